import Foundation

/// One signal line of a WFDB header (see PhysioNet's header(5) manual page).
public struct WFDBSignalSpec: Sendable, Equatable {
    public var fileName: String
    public var format: Int
    public var samplesPerFrame: Int
    public var skew: Int
    public var byteOffset: Int
    /// ADC units per physical unit; 0 in the file means the WFDB default of 200.
    public var gain: Double
    public var baseline: Int
    public var units: String
    public var adcResolution: Int
    public var adcZero: Int
    public var initialValue: Int
    public var checksum: Int?
    public var blockSize: Int
    public var description: String
    public var line: Int
}

/// A parsed WFDB header (`.hea`): the record line, one line per signal, and comment lines.
public struct WFDBHeader: Sendable, Equatable {
    public var recordName: String
    public var samplingRate: Double
    public var samplesPerSignal: Int?
    public var baseTime: String?
    public var baseDate: String?
    public var signals: [WFDBSignalSpec]
    public var comments: [String]
    /// Multi-segment records (record name `name/nseg`): each segment's record name ("~" = a gap) and
    /// length in samples; nil for single-segment records (whose `signals` are then filled).
    public var segments: [Segment]? = nil

    public struct Segment: Sendable, Equatable {
        public var name: String
        public var length: Int
    }

    /// Signal formats this reader decodes.
    public static let supportedFormats: Set<Int> = Set(WFDBFormat.table.keys)

    /// The signal line's integer fields after `file format gain`, in header(5) order: position,
    /// name (for messages) and where each goes. Absent fields keep the defaults set before.
    static let signalIntegerFields: [(position: Int, name: String, field: WritableKeyPath<WFDBSignalSpec, Int>)] = [
        (3, "ADC resolution", \.adcResolution),
        (4, "ADC zero", \.adcZero),
        (5, "initial value", \.initialValue),
        (7, "block size", \.blockSize),
    ]
    /// Position of the optional checksum field (kept as nil when absent, so it is not verified).
    static let checksumPosition = 6
    /// Position where the free-text description (the lead name) starts.
    static let descriptionPosition = 8

    /// Parses header text; `file` is used in error messages only.
    public static func parse(_ text: String, file: String) throws -> WFDBHeader {
        var comments: [String] = []
        var content: [(line: Int, text: String)] = []
        var lineNo = 0
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            lineNo += 1
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            let trimmed = line.trimmedOfWhitespace()
            if trimmed.isEmpty { continue }
            if trimmed.hasPrefix("#") {
                comments.append(trimmed.dropFirst().trimmedOfWhitespace())
                continue
            }
            // Text after '#' on a content line is a comment too.
            let body = trimmed.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? trimmed
            content.append((lineNo, body))
        }
        guard let recordLine = content.first else {
            throw ECGFormatError(.malformedHeader, file: file, "WFDB header has no record line")
        }
        let fields = recordLine.text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        let where0 = "line \(recordLine.line)"
        guard fields.count >= 2 else {
            throw ECGFormatError(.malformedHeader, file: file, "record line needs at least a record name and a signal count", at: where0)
        }
        var name = fields[0]
        var segmentCount: Int?
        if let slash = name.firstIndex(of: "/") {
            guard let n = Int(name[name.index(after: slash)...]), n >= 1, n <= 100_000 else {
                throw ECGFormatError(.malformedHeader, file: file, "segment count in record name '\(name)' is not a positive integer", at: where0)
            }
            segmentCount = n
            name = String(name[..<slash])
        }
        guard let nsig = Int(fields[1]), nsig >= 0 else {
            throw ECGFormatError(.malformedHeader, file: file, "signal count '\(fields[1])' is not a non-negative integer", at: where0)
        }
        guard nsig > 0 else {
            throw ECGFormatError(.missingData, file: file, "record declares no signals", at: where0)
        }
        guard nsig <= ReaderLimits.maxLeads else {
            throw ECGFormatError(.invalidValue, file: file, "record declares \(nsig) signals, more than the \(ReaderLimits.maxLeads) this reader accepts", at: where0)
        }
        var fs = 250.0 // WFDB default sampling frequency
        if fields.count >= 3 {
            let token = fields[2]
            let rateText = token.prefix { $0 != "/" && $0 != "(" }
            guard let rate = Double(rateText), rate.isFinite, rate > 0, rate < 1e7 else {
                throw ECGFormatError(.invalidValue, file: file, "sampling frequency '\(token)' is not a positive number", at: where0)
            }
            fs = rate
        }
        var nsamp: Int?
        if fields.count >= 4 {
            guard let n = Int(fields[3]), n >= 0 else {
                throw ECGFormatError(.invalidValue, file: file, "sample count '\(fields[3])' is not a non-negative integer", at: where0)
            }
            guard n <= ReaderLimits.maxSamplesPerLead else {
                throw ECGFormatError(.invalidValue, file: file, "sample count \(n) exceeds the \(ReaderLimits.maxSamplesPerLead) limit", at: where0)
            }
            nsamp = n == 0 ? nil : n
        }
        let signalLines = content.dropFirst()
        if let segmentCount {
            guard signalLines.count >= segmentCount else {
                throw ECGFormatError(.malformedHeader, file: file, "record line declares \(segmentCount) segments but the header has \(signalLines.count) segment lines", at: where0)
            }
            var segments: [Segment] = []
            for entry in signalLines.prefix(segmentCount) {
                let t = entry.text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                guard t.count >= 2, let len = Int(t[1]), len >= 0, len <= ReaderLimits.maxSamplesPerLead else {
                    throw ECGFormatError(.malformedHeader, file: file, "segment line needs a record name and a non-negative length", at: "line \(entry.line)")
                }
                // A segment is a record in the layout's own folder: one plain name ("~" marks a gap).
                if let why = PathComponent.problem(t[0]) {
                    throw ECGFormatError(.invalidValue, file: file, "segment name '\(TerminalText.sanitize(t[0]))' \(why)", at: "line \(entry.line)")
                }
                segments.append(Segment(name: t[0], length: len))
            }
            return WFDBHeader(recordName: name, samplingRate: fs, samplesPerSignal: nsamp,
                              baseTime: fields.count >= 5 ? fields[4] : nil, baseDate: fields.count >= 6 ? fields[5] : nil,
                              signals: [], comments: comments, segments: segments)
        }
        guard signalLines.count >= nsig else {
            throw ECGFormatError(.malformedHeader, file: file, "record line declares \(nsig) signals but the header has \(signalLines.count) signal lines", at: where0)
        }
        var specs: [WFDBSignalSpec] = []
        for entry in signalLines.prefix(nsig) {
            specs.append(try parseSignalLine(entry.text, line: entry.line, file: file))
        }
        return WFDBHeader(recordName: name, samplingRate: fs, samplesPerSignal: nsamp,
                          baseTime: fields.count >= 5 ? fields[4] : nil, baseDate: fields.count >= 6 ? fields[5] : nil,
                          signals: specs, comments: comments)
    }

    static func parseSignalLine(_ text: String, line: Int, file: String) throws -> WFDBSignalSpec {
        let at = "line \(line)"
        let tokens = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard tokens.count >= 2 else {
            throw ECGFormatError(.malformedHeader, file: file, "signal line needs at least a file name and a format", at: at)
        }
        // format[xspf][:skew][+offset]
        var fmtText = Substring(tokens[1])
        var offset = 0, skew = 0, spf = 1
        if let plus = fmtText.firstIndex(of: "+") {
            guard let o = Int(fmtText[fmtText.index(after: plus)...]), o >= 0 else {
                throw ECGFormatError(.malformedHeader, file: file, "byte offset in '\(tokens[1])' is not a non-negative integer", at: at)
            }
            offset = o
            fmtText = fmtText[..<plus]
        }
        if let colon = fmtText.firstIndex(of: ":") {
            guard let s = Int(fmtText[fmtText.index(after: colon)...]) else {
                throw ECGFormatError(.malformedHeader, file: file, "skew in '\(tokens[1])' is not an integer", at: at)
            }
            skew = s
            fmtText = fmtText[..<colon]
        }
        if let x = fmtText.firstIndex(of: "x") {
            guard let n = Int(fmtText[fmtText.index(after: x)...]), n >= 1 else {
                throw ECGFormatError(.malformedHeader, file: file, "samples per frame in '\(tokens[1])' is not a positive integer", at: at)
            }
            spf = n
            fmtText = fmtText[..<x]
        }
        guard let format = Int(fmtText) else {
            throw ECGFormatError(.malformedHeader, file: file, "signal format '\(tokens[1])' is not a number", at: at)
        }
        var gain = 200.0, units = "mV", baseline: Int?
        if tokens.count >= 3 {
            var g = Substring(tokens[2])
            if let slash = g.firstIndex(of: "/") {
                units = String(g[g.index(after: slash)...])
                g = g[..<slash]
            }
            if let open = g.firstIndex(of: "(") {
                guard g.hasSuffix(")"), let b = Int(g[g.index(after: open)..<g.index(before: g.endIndex)]) else {
                    throw ECGFormatError(.malformedHeader, file: file, "baseline in gain field '\(tokens[2])' is not an integer", at: at)
                }
                baseline = b
                g = g[..<open]
            }
            guard let value = Double(g), value.isFinite else {
                throw ECGFormatError(.malformedHeader, file: file, "gain '\(tokens[2])' is not a number", at: at)
            }
            gain = value == 0 ? 200 : value
        }
        func int(_ i: Int, _ what: String) throws -> Int? {
            guard tokens.count > i else { return nil }
            guard let v = Int(tokens[i]) else {
                throw ECGFormatError(.malformedHeader, file: file, "\(what) '\(tokens[i])' is not an integer", at: at)
            }
            return v
        }
        var spec = WFDBSignalSpec(fileName: tokens[0], format: format, samplesPerFrame: spf, skew: skew, byteOffset: offset,
                                  gain: gain, baseline: 0, units: units, adcResolution: 0, adcZero: 0, initialValue: 0,
                                  checksum: nil, blockSize: 0, description: "", line: line)
        for field in signalIntegerFields {
            if let v = try int(field.position, field.name) { spec[keyPath: field.field] = v }
        }
        // header(5) defaults that depend on other fields: the initial value and the baseline are the ADC zero.
        if tokens.count <= 5 { spec.initialValue = spec.adcZero }
        spec.baseline = baseline ?? spec.adcZero
        spec.checksum = try int(checksumPosition, "checksum")
        spec.description = tokens.count > descriptionPosition ? tokens[descriptionPosition...].joined(separator: " ") : ""
        return spec
    }
}

