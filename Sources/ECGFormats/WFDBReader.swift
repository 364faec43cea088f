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
    public static let supportedFormats: Set<Int> = [8, 16, 24, 32, 61, 80, 160, 212, 310, 311]

    /// Parses header text; `file` is used in error messages only.
    public static func parse(_ text: String, file: String) throws -> WFDBHeader {
        var comments: [String] = []
        var content: [(line: Int, text: String)] = []
        var lineNo = 0
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            lineNo += 1
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            if trimmed.hasPrefix("#") {
                comments.append(String(trimmed.dropFirst()).trimmingCharacters(in: .whitespaces))
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
        func int(_ i: Int, _ what: String, default d: Int) throws -> Int {
            guard tokens.count > i else { return d }
            guard let v = Int(tokens[i]) else {
                throw ECGFormatError(.malformedHeader, file: file, "\(what) '\(tokens[i])' is not an integer", at: at)
            }
            return v
        }
        let adcres = try int(3, "ADC resolution", default: 0)
        let adczero = try int(4, "ADC zero", default: 0)
        let initval = try int(5, "initial value", default: adczero)
        let checksum: Int? = tokens.count > 6 ? try int(6, "checksum", default: 0) : nil
        let blocksize = try int(7, "block size", default: 0)
        let description = tokens.count > 8 ? tokens[8...].joined(separator: " ") : ""
        return WFDBSignalSpec(fileName: tokens[0], format: format, samplesPerFrame: spf, skew: skew, byteOffset: offset,
                              gain: gain, baseline: baseline ?? adczero, units: units, adcResolution: adcres,
                              adcZero: adczero, initialValue: initval, checksum: checksum, blockSize: blocksize,
                              description: description, line: line)
    }
}

/// Reads WFDB records (PhysioNet): a `.hea` header and its signal files.
public struct WFDBReader: Sendable {
    /// When false, a checksum mismatch is not an error (for records known to carry stale checksums).
    public var verifyChecksums: Bool
    public var computeSHA256: Bool
    /// Multi-frequency records (more than one sample per frame): false (the default, as
    /// `wfdb.rdrecord`) returns every signal at the frame rate, each frame's samples averaged
    /// (digital sum / samples per frame, truncated toward zero, as wfdb-python); true returns every
    /// sample at the highest rate (frame rate × the largest samples per frame), repeating the
    /// samples of slower signals.
    public var expandFrames: Bool

    public init(verifyChecksums: Bool = true, computeSHA256: Bool = true, expandFrames: Bool = false) {
        self.verifyChecksums = verifyChecksums
        self.computeSHA256 = computeSHA256
        self.expandFrames = expandFrames
    }

    /// Accepts the `.hea` path, the record path without extension, or a signal file with a sibling `.hea`.
    public static func headerURL(for url: URL) -> URL {
        if url.pathExtension.lowercased() == "hea" { return url }
        let sibling = url.deletingPathExtension().appendingPathExtension("hea")
        if FileManager.default.fileExists(atPath: sibling.path) { return sibling }
        let appended = URL(fileURLWithPath: url.path + ".hea")
        if FileManager.default.fileExists(atPath: appended.path) { return appended }
        return url
    }

    public func read(url: URL) throws -> ECGRecord {
        let headerURL = WFDBReader.headerURL(for: url)
        let headerData = try readFileBytes(headerURL, role: "WFDB header")
        return try read(headerData: headerData, headerURL: headerURL, loadSignalFile: WFDBReader.fileLoader(headerURL))
    }

    /// Loads signal files beside the header; nil when a file is absent.
    public static func fileLoader(_ headerURL: URL, limit: Int = ReaderLimits.maxFileBytes) -> (String) throws -> Data? {
        { fileName in
            let dataURL = try signalFileURL(fileName, headerURL: headerURL)
            guard FileManager.default.fileExists(atPath: dataURL.path) else { return nil }
            return try readFileBytes(dataURL, role: "WFDB signal file", limit: limit)
        }
    }

    /// Where a signal file named in a header lies. It must resolve inside the header's folder: an
    /// absolute path, a `..` component or a symlink whose target leaves the folder is a typed error
    /// (the same rule the model bundle applies to its weights), so a header cannot make us read
    /// `/etc/passwd` or another patient's files.
    public static func signalFileURL(_ fileName: String, headerURL: URL) throws -> URL {
        let file = headerURL.path
        let shown = TerminalText.sanitize(fileName)
        guard !fileName.isEmpty, !fileName.unicodeScalars.contains(where: { $0.value == 0 }) else {
            throw ECGFormatError(.invalidValue, file: file, "signal file name '\(shown)' is empty or contains a NUL byte")
        }
        if fileName.hasPrefix("/") {
            throw ECGFormatError(.invalidValue, file: file, "signal file '\(shown)' is an absolute path; signal files must lie in the header's folder")
        }
        if fileName.split(separator: "/").contains("..") {
            throw ECGFormatError(.invalidValue, file: file, "signal file '\(shown)' names a parent folder ('..'); signal files must lie in the header's folder")
        }
        let folder = headerURL.deletingLastPathComponent()
        let url = folder.appendingPathComponent(fileName)
        if let target = realPath(url.path) {
            let base = realPath(folder.path) ?? folder.standardizedFileURL.path
            guard target.hasPrefix(base.hasSuffix("/") ? base : base + "/") else {
                throw ECGFormatError(.invalidValue, file: file, "signal file '\(shown)' is a symbolic link that leaves the header's folder (to \(TerminalText.sanitize(target)))")
            }
        }
        return url
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Decodes a record from header bytes and a loader for its signal files (nil: file absent).
    /// Signals whose file is absent are left out and listed in `metadata.extra["missingSignalFiles"]`
    /// (PhysioNet copies often lack e.g. PTB's `.xyz` Frank leads); if every file is absent it is an error.
    public func read(headerData: Data, headerURL: URL, loadSignalFile: (String) throws -> Data?) throws -> ECGRecord {
        let file = headerURL.path
        let text = try decodeUTF8(headerData, file: file, what: "WFDB header")
        let header = try WFDBHeader.parse(text, file: file)
        if header.segments != nil {
            return try readMultiSegment(header, headerData: headerData, headerURL: headerURL, loadSignalFile: loadSignalFile)
        }

        // Group signals by file in order of first appearance; one group is one interleaved stream.
        var groupOrder: [String] = []
        var groups: [String: [Int]] = [:]
        for (k, spec) in header.signals.enumerated() {
            if groups[spec.fileName] == nil { groupOrder.append(spec.fileName) }
            groups[spec.fileName, default: []].append(k)
            let at = "line \(spec.line)"
            if spec.fileName == "~" {
                throw ECGFormatError(.unsupported, file: file, "null signal file '~' is not supported", at: at)
            }
            guard WFDBHeader.supportedFormats.contains(spec.format) else {
                throw ECGFormatError(.unsupported, file: file, "signal format \(spec.format) is not supported (supported: 8, 16, 24, 32, 61, 80, 160, 212, 310, 311)", at: at)
            }
            guard spec.samplesPerFrame <= 1000 else {
                throw ECGFormatError(.invalidValue, file: file, "\(spec.samplesPerFrame) samples per frame exceeds the limit of 1000", at: at)
            }
            guard abs(spec.skew) <= ReaderLimits.maxSamplesPerLead else {
                throw ECGFormatError(.invalidValue, file: file, "skew \(spec.skew) exceeds the sample limit", at: at)
            }
            guard spec.gain > 0 else {
                throw ECGFormatError(.invalidValue, file: file, "gain \(spec.gain) is not positive", at: at)
            }
        }

        var digital = [[Int32]?](repeating: nil, count: header.signals.count)
        var sums = [Int64](repeating: 0, count: header.signals.count)
        var decoded = [([Float], Int64)?](repeating: nil, count: header.signals.count)
        var missing: [String] = []
        var dataParts: [Data] = []
        var nsamp = header.samplesPerSignal
        for fileName in groupOrder {
            let members = groups[fileName] ?? []
            let first = header.signals[members[0]]
            for m in members where header.signals[m].format != first.format || header.signals[m].byteOffset != first.byteOffset {
                throw ECGFormatError(.unsupported, file: file, "signals in '\(fileName)' mix formats or byte offsets", at: "line \(header.signals[m].line)")
            }
            guard let data = try loadSignalFile(fileName) else {
                missing.append(fileName)
                continue
            }
            dataParts.append(data)
            let spfs = members.map { header.signals[$0].samplesPerFrame }
            let n = spfs.reduce(0, +)   // samples per frame in this file
            let simple = header.signals.allSatisfy { $0.samplesPerFrame == 1 } && members.allSatisfy { header.signals[$0].skew == 0 }
            guard first.byteOffset <= data.count else {
                throw ECGFormatError(.truncated, file: file, "byte offset \(first.byteOffset) lies beyond the end of '\(fileName)' (\(data.count) bytes)", at: "line \(first.line)")
            }
            let available = data.count - first.byteOffset
            let framesInFile = WFDBCodec.samplesFitting(bytes: available, format: first.format) / n
            let frames: Int
            if let declared = nsamp {
                frames = declared
                let needed = WFDBCodec.bytesNeeded(samples: declared * n, format: first.format)
                guard needed <= available else {
                    throw ECGFormatError(.truncated, file: file, "'\(fileName)' holds \(available) bytes of samples but the header declares \(declared) samples × \(n) signals in format \(first.format) (\(needed) bytes)", at: "line \(first.line)")
                }
            } else {
                // No length in the header: the file size decides, as in WFDB.
                frames = framesInFile
                nsamp = frames
            }
            guard frames <= ReaderLimits.maxSamplesPerLead / max(1, spfs.max() ?? 1) else {
                throw ECGFormatError(.invalidValue, file: file, "\(frames) frames × \(spfs.max() ?? 1) samples per frame exceeds the sample limit", at: "line \(first.line)")
            }
            if first.format == 16 && simple {
                // Fast path for the most common format: bytes straight to millivolts, summing the
                // digital values for the checksum in the same pass (no intermediate arrays).
                data.withUnsafeBytes { raw in
                    let base = raw.baseAddress!.advanced(by: first.byteOffset)
                    for (j, signal) in members.enumerated() {
                        let spec = header.signals[signal]
                        let scale = (millivoltFactor(forUnit: spec.units) ?? 1) / spec.gain
                        let baseline = Double(spec.baseline)
                        var sum: Int64 = 0
                        var mv = [Float](repeating: 0, count: frames)
                        mv.withUnsafeMutableBufferPointer { dst in
                            var p = 2 * j
                            let step = 2 * n
                            for t in 0..<frames {
                                let v = Int16(bitPattern: UInt16(base.load(fromByteOffset: p, as: UInt8.self)) | UInt16(base.load(fromByteOffset: p + 1, as: UInt8.self)) << 8)
                                sum &+= Int64(v)
                                dst[t] = v == Int16.min ? .nan : Float((Double(v) - baseline) * scale)
                                p += step
                            }
                        }
                        decoded[signal] = (mv, sum)
                    }
                }
                continue
            }
            // Which member each sample position of a frame belongs to (format 8 keeps one running value per signal).
            var positionMember: [Int] = []
            for (j, spf) in spfs.enumerated() { positionMember += Array(repeating: j, count: spf) }
            let stream = try data.withUnsafeBytes { raw -> [Int32] in
                let bytes = UnsafeRawBufferPointer(rebasing: raw[first.byteOffset...])
                return try WFDBCodec.decode(bytes, format: first.format, count: frames * n,
                                            initialValues: members.map { Int32(clamping: header.signals[$0].initialValue) },
                                            positionMember: simple ? nil : positionMember, file: file)
            }
            var start = 0
            for (j, signal) in members.enumerated() {
                let spf = spfs[j], skew = header.signals[signal].skew
                var out = [Int32](repeating: 0, count: frames * spf)
                var sum: Int64 = 0
                out.withUnsafeMutableBufferPointer { dst in
                    stream.withUnsafeBufferPointer { src in
                        for f in 0..<frames {
                            for k in 0..<spf { sum &+= Int64(src[f * n + start + k]) }
                        }
                        // Skew (as wfdb-python): output frame f holds file frame f + skew; samples past
                        // the end of the file are 0, and the last `skew` samples are invalid.
                        let shift = max(0, skew)
                        for f in 0..<frames where f + shift < frames {
                            for k in 0..<spf { dst[f * spf + k] = src[(f + shift) * n + start + k] }
                        }
                        if shift > 0 {
                            let invalid = WFDBCodec.invalidSample(format: first.format)
                            for i in max(0, frames * spf - shift)..<(frames * spf) { dst[i] = invalid }
                        }
                    }
                }
                digital[signal] = out
                sums[signal] = sum
                start += spf
            }
        }

        if missing.count == groupOrder.count {
            throw ECGFormatError(.missingData, file: file, "signal file '\(missing[0])' named in the header is missing", at: "line \(header.signals[0].line)")
        }
        let frames = nsamp ?? 0
        let maxSPF = header.signals.map(\.samplesPerFrame).max() ?? 1
        var leads: [Lead] = []
        var extra: [String: String] = [:]
        if !missing.isEmpty {
            extra["missingSignalFiles"] = missing.map { name in
                name + " (" + header.signals.filter { $0.fileName == name }.map(\.description).joined(separator: ", ") + ")"
            }.joined(separator: "; ")
        }
        for (k, spec) in header.signals.enumerated() {
            let d = digital[k] ?? []
            guard digital[k] != nil || decoded[k] != nil else { continue }
            if verifyChecksums, let expected = spec.checksum {
                var sum: Int64 = 0
                if let fast = decoded[k] { sum = fast.1 } else { sum = sums[k] }
                let got = Int(Int16(truncatingIfNeeded: sum))
                if got != Int(Int16(truncatingIfNeeded: expected)) {
                    throw ECGFormatError(.corrupt, file: file, "checksum mismatch for signal \(k) ('\(spec.description)'): header says \(expected), samples sum to \(got)", at: "line \(spec.line)")
                }
            }
            let factor: Double
            if let f = millivoltFactor(forUnit: spec.units) {
                factor = f
            } else {
                factor = 1
                extra["units.\(spec.description.isEmpty ? "signal\(k)" : spec.description)"] = spec.units
            }
            let name = spec.description.isEmpty ? "signal\(k)" : spec.description
            if let fast = decoded[k] {
                leads.append(Lead(id: LeadID(parsing: name), millivolts: fast.0))
                continue
            }
            let scale = factor / spec.gain
            let baseline = Double(spec.baseline)
            let invalid = WFDBCodec.invalidSample(format: spec.format)
            let samples = WFDBReader.resample(d, samplesPerFrame: spec.samplesPerFrame, frames: frames,
                                              expandTo: expandFrames ? maxSPF : nil)
            let outCount = samples.count
            var mv = [Float](repeating: 0, count: outCount)
            mv.withUnsafeMutableBufferPointer { dst in
                samples.withUnsafeBufferPointer { src in
                    for t in 0..<outCount {
                        let v = src[t]
                        dst[t] = v == invalid ? .nan : Float((Double(v) - baseline) * scale)
                    }
                }
            }
            leads.append(Lead(id: LeadID(parsing: name), millivolts: mv))
        }

        var metadata = WFDBReader.metadata(from: header.comments)
        metadata.extra.merge(extra) { a, _ in a }
        if let t = header.baseTime, let d = header.baseDate {
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = TimeZone(identifier: "UTC")
            f.dateFormat = "HH:mm:ss dd/MM/yyyy"
            metadata.acquisitionTime = f.date(from: "\(t.split(separator: ".").first ?? "") \(d)")
        }
        let sha = computeSHA256 ? sha256Hex([headerData] + dataParts) : ""
        if maxSPF > 1 {
            metadata.extra["samplesPerFrame"] = header.signals.map { String($0.samplesPerFrame) }.joined(separator: ",")
            metadata.extra["frames"] = expandFrames ? "expanded to \(maxSPF) samples per frame" : "averaged (wfdb smooth_frames)"
        }
        return try ECGRecord.canonical(storedLeads: leads, samplingRate: header.samplingRate * Double(expandFrames ? maxSPF : 1),
                                       metadata: metadata, provenance: Provenance(format: .wfdb, path: file, sha256: sha))
    }

    /// Digital samples of one signal (`frames × samplesPerFrame`, frame-major) at the frame rate —
    /// each frame's samples averaged as wfdb-python's smooth_frames does (int64 sum / spf, truncated
    /// toward zero) — or, with `expandTo`, at `expandTo` samples per frame (samples repeated).
    static func resample(_ d: [Int32], samplesPerFrame spf: Int, frames: Int, expandTo: Int?) -> [Int32] {
        if let target = expandTo {
            if spf == target { return d }
            return (0..<(frames * target)).map { d[min(d.count - 1, $0 * spf / target)] }
        }
        if spf == 1 { return d }
        var out = [Int32](repeating: 0, count: frames)
        for f in 0..<frames {
            var sum: Int64 = 0
            for k in 0..<spf { sum += Int64(d[f * spf + k]) }
            out[f] = Int32(clamping: Int64((Double(sum) / Double(spf)).rounded(.towardZero)))
        }
        return out
    }

    /// A multi-segment record (WFDB layout header + segment records) joined as wfdb-python's
    /// `rdrecord(..., m2s=True)` does: the signals of the layout segment (variable layout: the first
    /// segment, of length 0) or of the first segment (fixed layout), each segment's signals placed by
    /// name, NaN where a segment lacks a signal and over "~" gaps.
    func readMultiSegment(_ header: WFDBHeader, headerData: Data, headerURL: URL,
                          loadSignalFile: (String) throws -> Data?) throws -> ECGRecord {
        let file = headerURL.path
        let segments = header.segments ?? []
        var names: [String]?
        var pieces: [(length: Int, leads: [Lead]?)] = []
        var shaParts = [headerData]
        var firstMetadata: ECGMetadata?
        let rate = header.samplingRate
        for (i, seg) in segments.enumerated() {
            if seg.name == "~" { pieces.append((seg.length, nil)); continue }
            guard !seg.name.contains("/"), let segHeader = try loadSignalFile(seg.name + ".hea") else {
                throw ECGFormatError(.missingData, file: file, "segment header '\(TerminalText.sanitize(seg.name)).hea' named in the layout is missing")
            }
            let segURL = headerURL.deletingLastPathComponent().appendingPathComponent(seg.name + ".hea")
            let segText = try decodeUTF8(segHeader, file: segURL.path, what: "WFDB segment header")
            let parsed = try WFDBHeader.parse(segText, file: segURL.path)
            guard parsed.segments == nil else {
                throw ECGFormatError(.unsupported, file: segURL.path, "a segment is itself a multi-segment record")
            }
            if i == 0 && seg.length == 0 {   // variable layout: the layout segment names the signals
                names = parsed.signals.map { $0.description.isEmpty ? "signal\(names?.count ?? 0)" : $0.description }
                continue
            }
            let rec = try read(headerData: segHeader, headerURL: segURL, loadSignalFile: loadSignalFile)
            shaParts.append(Data(rec.provenance.sha256.utf8))
            if firstMetadata == nil { firstMetadata = rec.metadata }
            let expected = rate * Double(expandFrames ? max(1, Int((rec.samplingRate / rate).rounded())) : 1)
            guard abs(rec.samplingRate - expected) < 1e-6 * max(1, rate) else {
                throw ECGFormatError(.unsupported, file: segURL.path, "segment rate \(rec.samplingRate) Hz differs from the record's \(rate) Hz")
            }
            let stored = rec.storedLeadsInFileOrder
            if names == nil { names = parsed.signals.map(\.description) }
            pieces.append((seg.length, stored))
        }
        guard let names, !names.isEmpty else {
            throw ECGFormatError(.missingData, file: file, "multi-segment record has no segment with signals")
        }
        let ids = names.enumerated().map { LeadID(parsing: $0.element.isEmpty ? "signal\($0.offset)" : $0.element) }
        let total = pieces.reduce(0) { $0 + $1.length }
        var upsample = 1
        if expandFrames, let any = pieces.first(where: { $0.leads?.first != nil })?.leads?.first, let segLen = pieces.first(where: { $0.leads?.first != nil })?.length, segLen > 0 {
            upsample = max(1, any.millivolts.count / segLen)
        }
        guard total * upsample <= ReaderLimits.maxSamplesPerLead else {
            throw ECGFormatError(.invalidValue, file: file, "multi-segment record of \(total) samples exceeds the limit")
        }
        var channels = ids.map { _ in [Float]() }
        for c in channels.indices { channels[c].reserveCapacity(total * upsample) }
        for piece in pieces {
            let count = piece.length * upsample
            for (c, id) in ids.enumerated() {
                if let lead = piece.leads?.first(where: { $0.id == id }) {
                    let have = lead.millivolts.prefix(count)
                    channels[c] += have
                    if have.count < count { channels[c] += [Float](repeating: .nan, count: count - have.count) }
                } else {
                    channels[c] += [Float](repeating: .nan, count: count)
                }
            }
        }
        var metadata = WFDBReader.metadata(from: header.comments)
        if let m = firstMetadata {
            metadata.ageYears = metadata.ageYears ?? m.ageYears
            metadata.sex = metadata.sex ?? m.sex
            metadata.extra.merge(m.extra) { a, _ in a }
        }
        metadata.extra["segments"] = String(segments.count)
        let leads = zip(ids, channels).map { Lead(id: $0.0, millivolts: $0.1) }
        let sha = computeSHA256 ? sha256Hex(shaParts) : ""
        return try ECGRecord.canonical(storedLeads: leads, samplingRate: rate * Double(upsample), metadata: metadata,
                                       provenance: Provenance(format: .wfdb, path: file, sha256: sha))
    }

    /// Header comments as metadata: "Age: 78", "sex: female", "Dx: …" pairs, or MIT-BIH's "69 M …".
    static func metadata(from comments: [String]) -> ECGMetadata {
        var m = ECGMetadata()
        var free: [String] = []
        for c in comments where !c.isEmpty {
            if let colon = c.firstIndex(of: ":") {
                let key = c[..<colon].trimmingCharacters(in: .whitespaces)
                let value = c[c.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                switch key.lowercased() {
                case "age": m.ageYears = Double(value)
                case "sex", "gender": m.sex = parseSex(value)
                default: if !key.isEmpty && key.count < 80 { m.extra[key] = value } else { free.append(c) }
                }
            } else {
                let t = c.split(separator: " ")
                if m.ageYears == nil, t.count >= 2, let age = Double(t[0]), age >= 0, age < 150, let s = parseSex(String(t[1])), s != .unknown {
                    m.ageYears = age
                    m.sex = s
                }
                free.append(c)
            }
        }
        if !free.isEmpty { m.extra["comments"] = free.joined(separator: "\n") }
        return m
    }
}

func parseSex(_ raw: String) -> Sex? {
    switch raw.trimmingCharacters(in: .whitespaces).lowercased() {
    case "m", "male", "man": return .male
    case "f", "female", "woman", "w": return .female
    case "", "nan": return nil
    default: return .unknown
    }
}

/// Bit-level codecs for the WFDB signal formats (digital values, before gain and baseline).
enum WFDBCodec {
    /// WFDB's "invalid sample" value per format; decoded as NaN like wfdb-python.
    static func invalidSample(format: Int) -> Int32 {
        switch format {
        case 8, 80: return -128
        case 212: return -2048
        case 310, 311: return -512
        case 24: return -8_388_608
        case 32: return Int32.min
        default: return -32768
        }
    }

    static func bytesNeeded(samples t: Int, format: Int) -> Int {
        switch format {
        case 8, 80: return t
        case 16, 61, 160: return 2 * t
        case 24: return 3 * t
        case 32: return 4 * t
        case 212: return (3 * t + 1) / 2
        case 310, 311: return (t / 3) * 4 + [0, 2, 4][t % 3]
        default: return Int.max
        }
    }

    static func samplesFitting(bytes b: Int, format: Int) -> Int {
        switch format {
        case 8, 80: return b
        case 16, 61, 160: return b / 2
        case 24: return b / 3
        case 32: return b / 4
        case 212: return (2 * b) / 3
        case 310, 311: return (b / 4) * 3 + (b % 4 >= 2 ? 1 : 0)
        default: return 0
        }
    }

    @inline(__always) static func signExtend(_ v: UInt32, bits: Int) -> Int32 {
        let shift = 32 - bits
        return Int32(bitPattern: v << UInt32(shift)) >> Int32(shift)
    }

    /// Decodes `count` interleaved samples; the caller has already checked the buffer is long enough.
    static func decode(_ b: UnsafeRawBufferPointer, format: Int, count: Int, initialValues: [Int32],
                       positionMember: [Int]? = nil, file: String) throws -> [Int32] {
        guard bytesNeeded(samples: count, format: format) <= b.count else {
            throw ECGFormatError(.truncated, file: file, "signal file too short for \(count) samples in format \(format)")
        }
        var out = [Int32](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { o in
            switch format {
            case 16:
                for i in 0..<count { o[i] = Int32(Int16(bitPattern: UInt16(b[2 * i]) | UInt16(b[2 * i + 1]) << 8)) }
            case 61:
                for i in 0..<count { o[i] = Int32(Int16(bitPattern: UInt16(b[2 * i]) << 8 | UInt16(b[2 * i + 1]))) }
            case 160:
                for i in 0..<count { o[i] = Int32(UInt16(b[2 * i]) | UInt16(b[2 * i + 1]) << 8) - 32768 }
            case 80:
                for i in 0..<count { o[i] = Int32(b[i]) - 128 }
            case 8:
                // First differences, one running value per interleaved signal, starting at its initial value.
                let n = max(1, positionMember?.count ?? initialValues.count)
                var running = initialValues.isEmpty ? [Int32](repeating: 0, count: 1) : initialValues
                for i in 0..<count {
                    let s = positionMember.map { $0[i % n] } ?? i % n
                    running[s] = running[s] &+ Int32(Int8(bitPattern: b[i]))
                    o[i] = running[s]
                }
            case 24:
                for i in 0..<count {
                    let v = UInt32(b[3 * i]) | UInt32(b[3 * i + 1]) << 8 | UInt32(b[3 * i + 2]) << 16
                    o[i] = signExtend(v, bits: 24)
                }
            case 32:
                for i in 0..<count {
                    let v = UInt32(b[4 * i]) | UInt32(b[4 * i + 1]) << 8 | UInt32(b[4 * i + 2]) << 16 | UInt32(b[4 * i + 3]) << 24
                    o[i] = Int32(bitPattern: v)
                }
            case 212:
                // Two 12-bit samples in three bytes; the middle byte holds both high nibbles.
                var i = 0, p = 0
                while i < count {
                    let b0 = UInt32(b[p]), b1 = UInt32(b[p + 1])
                    o[i] = signExtend(b0 | (b1 & 0x0F) << 8, bits: 12)
                    if i + 1 < count {
                        let b2 = UInt32(b[p + 2])
                        o[i + 1] = signExtend(b2 | (b1 & 0xF0) << 4, bits: 12)
                    }
                    i += 2; p += 3
                }
            case 310:
                // Three 10-bit samples in two little-endian 16-bit words (bit 0 of each word unused).
                var i = 0, p = 0
                while i < count {
                    let w0 = UInt32(b[p]) | UInt32(b[p + 1]) << 8
                    o[i] = signExtend((w0 >> 1) & 0x3FF, bits: 10)
                    if i + 1 < count {
                        let w1 = UInt32(b[p + 2]) | UInt32(b[p + 3]) << 8
                        o[i + 1] = signExtend((w1 >> 1) & 0x3FF, bits: 10)
                        if i + 2 < count {
                            o[i + 2] = signExtend(((w0 >> 11) & 0x1F) | ((w1 >> 6) & 0x3E0), bits: 10)
                        }
                    }
                    i += 3; p += 4
                }
            case 311:
                // Three 10-bit samples in one little-endian 32-bit word.
                var i = 0, p = 0
                while i < count {
                    var w = UInt32(b[p]) | UInt32(b[p + 1]) << 8
                    if i + 1 < count { w |= UInt32(b[p + 2]) << 16 | UInt32(b[p + 3]) << 24 }
                    o[i] = signExtend(w & 0x3FF, bits: 10)
                    if i + 1 < count { o[i + 1] = signExtend((w >> 10) & 0x3FF, bits: 10) }
                    if i + 2 < count { o[i + 2] = signExtend((w >> 20) & 0x3FF, bits: 10) }
                    i += 3; p += 4
                }
            default:
                break
            }
        }
        return out
    }
}
