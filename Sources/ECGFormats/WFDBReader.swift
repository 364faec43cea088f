import Crypto
import Foundation

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
    /// Samples decoded per read of a signal file (tests make it tiny to cross chunk boundaries).
    var decodeChunkSamples = 1 << 20
    /// Samples de-interleaved at a time inside a chunk (tests make it tiny to cross block edges).
    var decodeBlockSamples = 8192

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
        try read(url: url, window: nil)
    }

    /// Reads samples `window` (at the record's output rate; nil: all) of the record at `url`,
    /// reading from its signal files only the bytes the window needs (see `WFDBFileDecoder`).
    /// Checksums are verified only when the window is the whole record.
    public func read(url: URL, window: Range<Int>?) throws -> ECGRecord {
        let headerURL = WFDBReader.headerURL(for: url)
        let headerData = try readFileBytes(headerURL, role: "WFDB header")
        return try read(headerData: headerData, files: WFDBFiles(headerURL: headerURL, load: nil), window: window)
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
    public func read(headerData: Data, headerURL: URL, loadSignalFile: @escaping (String) throws -> Data?) throws -> ECGRecord {
        try read(headerData: headerData, files: WFDBFiles(headerURL: headerURL, load: loadSignalFile), window: nil)
    }

    /// The record's shape without decoding samples: its header, and its length in samples at the
    /// output rate (for headers without a sample count, from the first signal file's size).
    public func shape(url: URL) throws -> (header: WFDBHeader, sampleCount: Int, samplingRate: Double) {
        let headerURL = WFDBReader.headerURL(for: url)
        let headerData = try readFileBytes(headerURL, role: "WFDB header")
        let files = WFDBFiles(headerURL: headerURL, load: nil)
        let header = try WFDBHeader.parse(try decodeUTF8(headerData, file: headerURL.path, what: "WFDB header"), file: headerURL.path)
        if let segments = header.segments {
            let total = segments.reduce(0) { $0 + $1.length }
            if expandFrames {   // the output rate is the segments' highest sample rate: read a sliver to learn it
                let sliver = try read(headerData: headerData, files: files, window: 0..<1)
                let up = max(1, Int((sliver.samplingRate / header.samplingRate).rounded()))
                return (header, total * up, sliver.samplingRate)
            }
            return (header, total, header.samplingRate)
        }
        let layout = try SingleSegmentLayout(header: header, files: files)
        let per = expandFrames ? layout.maxSPF : 1
        return (header, layout.frames * per, header.samplingRate * Double(per))
    }

    /// SHA-256 of the header followed by its signal files as they are on disk, each up to the last
    /// byte the header accounts for (for multi-segment records: of the layout header followed by each
    /// segment's digest), streamed in pieces.
    public func sha256(url: URL) throws -> String {
        let headerURL = WFDBReader.headerURL(for: url)
        let headerData = try readFileBytes(headerURL, role: "WFDB header")
        return try sha256(headerData: headerData, files: WFDBFiles(headerURL: headerURL, load: nil))
    }

    func sha256(headerData: Data, files: WFDBFiles) throws -> String {
        let file = files.headerURL.path
        let header = try WFDBHeader.parse(try decodeUTF8(headerData, file: file, what: "WFDB header"), file: file)
        var hasher = SHA256()
        hasher.update(data: headerData)
        if let segments = header.segments {
            // As the joined record's provenance has always been: the layout header, then each signal segment's digest.
            for (i, seg) in segments.enumerated() where seg.name != "~" && !(i == 0 && seg.length == 0) {
                guard let (segData, segFiles) = try files.segment(seg.name) else { continue }
                hasher.update(data: Data(try sha256(headerData: segData, files: segFiles).utf8))
            }
        } else {
            for group in try SingleSegmentLayout(header: header, files: files).groups {
                try group.bytes?.hash(into: &hasher, upTo: group.usedBytes)
            }
        }
        return SHA256Hex.hex(hasher.finalize())
    }

    func read(headerData: Data, files: WFDBFiles, window: Range<Int>?) throws -> ECGRecord {
        let file = files.headerURL.path
        let text = try decodeUTF8(headerData, file: file, what: "WFDB header")
        let header = try WFDBHeader.parse(text, file: file)
        if header.segments != nil {
            return try readMultiSegment(header, headerData: headerData, files: files, window: window)
        }
        let layout = try SingleSegmentLayout(header: header, files: files)
        let per = expandFrames ? layout.maxSPF : 1
        // The window in output samples, clamped to the record, and the frames that cover it.
        let total = layout.frames * per
        let wanted = window.map { $0.clamped(to: 0..<total) } ?? 0..<total
        let frameWindow = (wanted.lowerBound / per)..<((wanted.upperBound + per - 1) / per)
        let trim = wanted.lowerBound - frameWindow.lowerBound * per
        let whole = frameWindow == 0..<layout.frames
        let checkSums = verifyChecksums && whole

        var digital = [[Int32]?](repeating: nil, count: header.signals.count)
        var sums = [Int64](repeating: 0, count: header.signals.count)
        for group in layout.groups {
            guard let bytes = group.bytes else { continue }
            var decoder = WFDBFileDecoder(specs: group.members.map { header.signals[$0] }, format: group.format, frames: layout.frames)
            decoder.samplesPerChunk = decodeChunkSamples
            decoder.samplesPerBlock = decodeBlockSamples
            let (d, s) = try decoder.decode(window: frameWindow, bytes: bytes, sums: checkSums)
            for (j, signal) in group.members.enumerated() {
                digital[signal] = d[j]
                sums[signal] = s[j]
            }
        }

        var leads: [Lead] = []
        var extra: [String: String] = [:]
        let missing = layout.groups.filter { $0.bytes == nil }.map(\.fileName)
        if !missing.isEmpty {
            extra["missingSignalFiles"] = missing.map { name in
                name + " (" + header.signals.filter { $0.fileName == name }.map(\.description).joined(separator: ", ") + ")"
            }.joined(separator: "; ")
        }
        for (k, spec) in header.signals.enumerated() {
            guard let d = digital[k] else { continue }
            if checkSums, let expected = spec.checksum {
                let got = Int(Int16(truncatingIfNeeded: sums[k]))
                if got != Int(Int16(truncatingIfNeeded: expected)) {
                    throw ECGFormatError(.corrupt, file: file, "checksum mismatch for signal \(k) ('\(spec.description)'): header says \(expected), samples sum to \(got)", at: "line \(spec.line)")
                }
            }
            let name = spec.description.isEmpty ? "signal\(k)" : spec.description
            if millivoltFactor(forUnit: spec.units) == nil { extra["units.\(name)"] = spec.units }
            let samples = WFDBReader.resample(d, samplesPerFrame: spec.samplesPerFrame, frames: frameWindow.count,
                                              expandTo: expandFrames ? layout.maxSPF : nil)
            let mv = WFDBReader.millivolts(samples[trim..<(trim + wanted.count)], spec: spec)
            leads.append(Lead(parsing: name, millivolts: mv))
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
        var sha = "", scope: String? = nil
        if computeSHA256 {
            var hasher = SHA256()
            hasher.update(data: headerData)
            if whole {
                for group in layout.groups { try group.bytes?.hash(into: &hasher, upTo: group.usedBytes) }
            } else {
                // A window hashes the bytes its decoding read, not the whole file: the work stays
                // proportional to the request (a 10 s page of a 1 GB Holter file), and the scope says so.
                var parts: [String] = []
                for group in layout.groups {
                    guard let bytes = group.bytes, let span = bytes.readSpan else { continue }
                    try bytes.hash(into: &hasher, range: span)
                    parts.append("bytes \(span.lowerBound)–\(span.upperBound - 1) of \(group.fileName)")
                }
                scope = parts.isEmpty ? "header only" : "header + " + parts.joined(separator: ", ")
            }
            sha = SHA256Hex.hex(hasher.finalize())
        }
        if layout.maxSPF > 1 {
            metadata.extra["samplesPerFrame"] = header.signals.map { String($0.samplesPerFrame) }.joined(separator: ",")
            metadata.extra["frames"] = expandFrames ? "expanded to \(layout.maxSPF) samples per frame" : "averaged (wfdb smooth_frames)"
        }
        return try ECGRecord.canonical(storedLeads: leads, samplingRate: header.samplingRate * Double(per),
                                       metadata: metadata, provenance: Provenance(format: .wfdb, path: file, sha256: sha, sha256Scope: scope))
    }

    /// The one digital → physical conversion: (digital − baseline) / gain in the signal's units,
    /// scaled to millivolts when the unit is a voltage; the format's invalid value becomes NaN.
    static func millivolts(_ samples: ArraySlice<Int32>, spec: WFDBSignalSpec) -> [Float] {
        let scale = (millivoltFactor(forUnit: spec.units) ?? 1) / spec.gain
        let baseline = Double(spec.baseline)
        let invalid = WFDBFormat.table[spec.format]?.invalidValue ?? Int32.min
        var mv = [Float](repeating: 0, count: samples.count)
        mv.withUnsafeMutableBufferPointer { dst in
            samples.withUnsafeBufferPointer { src in
                for t in 0..<src.count {
                    let v = src[t]
                    dst[t] = v == invalid ? .nan : Float((Double(v) - baseline) * scale)
                }
            }
        }
        return mv
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
    /// name, NaN where a segment lacks a signal and over "~" gaps. With a window, only the segments
    /// it overlaps are decoded (and only their part of it).
    func readMultiSegment(_ header: WFDBHeader, headerData: Data, files: WFDBFiles, window: Range<Int>?) throws -> ECGRecord {
        let file = files.headerURL.path
        let segments = header.segments ?? []
        let rate = header.samplingRate
        let total = segments.reduce(0) { $0 + $1.length }
        if expandFrames, let window {
            // Segment rates may differ in samples per frame: join the whole record, then cut (rare; not windowed).
            var whole = try readMultiSegment(header, headerData: headerData, files: files, window: nil)
            let w = window.clamped(to: 0..<whole.sampleCount)
            for k in whole.leads.indices { whole.leads[k].millivolts = Array(whole.leads[k].millivolts[w]) }
            return whole
        }
        let wanted = window.map { $0.clamped(to: 0..<total) } ?? 0..<total
        // A window of the record hashes what it read of each segment (see `read`); the whole record
        // hashes every segment whole.
        let windowed = wanted != 0..<total
        var segmentDigests: [(name: String, sha: String, scope: String?)] = []
        var names: [String]?
        var pieces: [(length: Int, leads: [Lead]?)] = []
        var firstMetadata: ECGMetadata?
        var segmentStart = 0
        for (i, seg) in segments.enumerated() {
            defer { segmentStart += seg.length }
            // The part of the window in this segment, in the segment's own samples.
            let local = (wanted.lowerBound - segmentStart)..<(wanted.upperBound - segmentStart)
            let overlap = local.clamped(to: 0..<seg.length)
            if seg.name == "~" { pieces.append((overlap.count, nil)); continue }
            guard !seg.name.contains("/"), let (segHeader, segFiles) = try files.segment(seg.name) else {
                throw ECGFormatError(.missingData, file: file, "segment header '\(TerminalText.sanitize(seg.name)).hea' named in the layout is missing")
            }
            let segPath = segFiles.headerURL.path
            let segText = try decodeUTF8(segHeader, file: segPath, what: "WFDB segment header")
            let parsed = try WFDBHeader.parse(segText, file: segPath)
            guard parsed.segments == nil else {
                throw ECGFormatError(.unsupported, file: segPath, "a segment is itself a multi-segment record")
            }
            if i == 0 && seg.length == 0 {   // variable layout: the layout segment names the signals
                names = parsed.signals.map { $0.description.isEmpty ? "signal\(names?.count ?? 0)" : $0.description }
                continue
            }
            if names == nil { names = parsed.signals.map(\.description) }
            guard !overlap.isEmpty || firstMetadata == nil else { pieces.append((0, nil)); continue }
            var segReader = self
            segReader.computeSHA256 = computeSHA256 && windowed
            // A segment outside the window is still read (one sample) once: the first one gives the metadata.
            let rec = try segReader.read(headerData: segHeader, files: segFiles, window: overlap.isEmpty ? 0..<1 : overlap)
            if segReader.computeSHA256 { segmentDigests.append((seg.name, rec.provenance.sha256, rec.provenance.sha256Scope)) }
            if firstMetadata == nil { firstMetadata = rec.metadata }
            let expected = rate * Double(expandFrames ? max(1, Int((rec.samplingRate / rate).rounded())) : 1)
            guard abs(rec.samplingRate - expected) < 1e-6 * max(1, rate) else {
                throw ECGFormatError(.unsupported, file: segPath, "segment rate \(rec.samplingRate) Hz differs from the record's \(rate) Hz")
            }
            pieces.append(overlap.isEmpty ? (0, nil) : (overlap.count, rec.storedLeadsInFileOrder))
        }
        guard let names, !names.isEmpty else {
            throw ECGFormatError(.missingData, file: file, "multi-segment record has no segment with signals")
        }
        let ids = names.enumerated().map { LeadID(parsing: $0.element.isEmpty ? "signal\($0.offset)" : $0.element) }
        var upsample = 1
        if expandFrames, let any = pieces.first(where: { $0.leads?.first != nil }), let lead = any.leads?.first, any.length > 0 {
            upsample = max(1, lead.millivolts.count / any.length)
        }
        guard wanted.count * upsample <= ReaderLimits.maxSamplesPerLead else {
            throw ECGFormatError(.invalidValue, file: file, "multi-segment record of \(wanted.count) samples exceeds the limit")
        }
        var channels = ids.map { _ in [Float]() }
        for c in channels.indices { channels[c].reserveCapacity(wanted.count * upsample) }
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
        let leads = zip(ids, channels).enumerated().map { k, pair in
            Lead(id: pair.0, millivolts: pair.1, fileLabel: LeadID.modifiedLeadName(names[k], parsedAs: pair.0))
        }
        var sha = "", scope: String? = nil
        if computeSHA256 && windowed {
            // As for the whole record (the layout header, then each segment's digest), over the segments read.
            var hasher = SHA256()
            hasher.update(data: headerData)
            for d in segmentDigests { hasher.update(data: Data(d.sha.utf8)) }
            sha = SHA256Hex.hex(hasher.finalize())
            let listed = segmentDigests.prefix(4).map { "segment \($0.name) (\($0.scope ?? "whole"))" }
            scope = "layout header + " + (listed.isEmpty ? "no segment" : listed.joined(separator: ", "))
                + (segmentDigests.count > 4 ? " + \(segmentDigests.count - 4) more segments" : "")
        } else if computeSHA256 {
            sha = try sha256(headerData: headerData, files: files)
        }
        return try ECGRecord.canonical(storedLeads: leads, samplingRate: rate * Double(upsample), metadata: metadata,
                                       provenance: Provenance(format: .wfdb, path: file, sha256: sha, sha256Scope: scope))
    }

    /// Header comments as metadata: "Age: 78", "sex: female", "Dx: …" pairs, or MIT-BIH's "69 M …".
    static func metadata(from comments: [String]) -> ECGMetadata {
        var m = ECGMetadata()
        var free: [String] = []
        for c in comments where !c.isEmpty {
            if let colon = c.firstIndex(of: ":") {
                let key = c[..<colon].trimmedOfWhitespace()
                let value = c[c.index(after: colon)...].trimmedOfWhitespace()
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
    switch raw.trimmedOfWhitespace().lowercased() {
    case "m", "male", "man": return .male
    case "f", "female", "woman", "w": return .female
    case "", "nan": return nil
    default: return .unknown
    }
}

/// Where a record's files come from: the header's folder on disk (signal files opened and read by
/// offset), or a loader of whole files (tests, fuzzing).
struct WFDBFiles {
    let headerURL: URL
    let load: ((String) throws -> Data?)?

    /// The signal file `name` beside the header; nil when absent.
    func signal(_ name: String) throws -> WFDBSignalBytes? {
        let url = try WFDBReader.signalFileURL(name, headerURL: headerURL)
        if let load { return try load(name).map { WFDBSignalBytes(data: $0, path: url.path) } }
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return try WFDBSignalBytes(opening: url)
    }

    /// A segment's header bytes and where its files are; nil when its header is absent.
    func segment(_ name: String) throws -> (Data, WFDBFiles)? {
        let url = try WFDBReader.signalFileURL(name + ".hea", headerURL: headerURL)
        let segFiles = WFDBFiles(headerURL: url, load: load)
        if let load { return try load(name + ".hea").map { ($0, segFiles) } }
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return (try readFileBytes(url, role: "WFDB segment header"), segFiles)
    }
}

/// A single-segment record's signal files checked against its header: which signals each file
/// interleaves, its format, its bytes (nil: absent), and the record's length in frames.
struct SingleSegmentLayout {
    struct Group {
        let fileName: String
        let members: [Int]
        let format: WFDBFormat
        let bytes: WFDBSignalBytes?
        /// The bytes of the file the header accounts for (byte offset + declared samples): what the
        /// provenance digest covers, so a header cannot make every read hash a 1 GB file it uses
        /// 2 KB of (1,000 segments naming one sparse file took over 60 s).
        var usedBytes = 0
    }
    let groups: [Group]
    let frames: Int
    let maxSPF: Int

    init(header: WFDBHeader, files: WFDBFiles) throws {
        let file = files.headerURL.path
        // Group signals by file in order of first appearance; one group is one interleaved stream.
        var groupOrder: [String] = []
        var members: [String: [Int]] = [:]
        for (k, spec) in header.signals.enumerated() {
            if members[spec.fileName] == nil { groupOrder.append(spec.fileName) }
            members[spec.fileName, default: []].append(k)
            let at = "line \(spec.line)"
            if spec.fileName == "~" {
                throw ECGFormatError(.unsupported, file: file, "null signal file '~' is not supported", at: at)
            }
            guard WFDBFormat.table[spec.format] != nil else {
                let list = WFDBFormat.supportedCodes.map(String.init).joined(separator: ", ")
                throw ECGFormatError(.unsupported, file: file, "signal format \(spec.format) is not supported (supported: \(list))", at: at)
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
        var groups: [Group] = []
        var usedTotal = 0
        var nsamp = header.samplesPerSignal
        for fileName in groupOrder {
            let list = members[fileName] ?? []
            let first = header.signals[list[0]]
            for m in list where header.signals[m].format != first.format || header.signals[m].byteOffset != first.byteOffset {
                throw ECGFormatError(.unsupported, file: file, "signals in '\(fileName)' mix formats or byte offsets", at: "line \(header.signals[m].line)")
            }
            guard let format = WFDBFormat.table[first.format] else {
                throw ECGFormatError(.unsupported, file: file, "signal format \(first.format) is not supported", at: "line \(first.line)")
            }
            guard let bytes = try files.signal(fileName) else {
                groups.append(Group(fileName: fileName, members: list, format: format, bytes: nil))
                continue
            }
            let spfs = list.map { header.signals[$0].samplesPerFrame }
            let n = spfs.reduce(0, +)   // samples per frame in this file
            guard first.byteOffset <= bytes.count else {
                throw ECGFormatError(.truncated, file: file, "byte offset \(first.byteOffset) lies beyond the end of '\(fileName)' (\(bytes.count) bytes)", at: "line \(first.line)")
            }
            let available = bytes.count - first.byteOffset
            let frames: Int
            if let declared = nsamp {
                frames = declared
                let needed = format.bytesNeeded(samples: declared * n)
                guard needed <= available else {
                    throw ECGFormatError(.truncated, file: file, "'\(fileName)' holds \(available) bytes of samples but the header declares \(declared) samples × \(n) signals in format \(first.format) (\(needed) bytes)", at: "line \(first.line)")
                }
            } else {
                // No length in the header: the file size decides, as in WFDB.
                frames = format.samplesFitting(bytes: available) / n
                nsamp = frames
            }
            guard frames <= ReaderLimits.maxSamplesPerLead / max(1, spfs.max() ?? 1) else {
                throw ECGFormatError(.invalidValue, file: file, "\(frames) frames × \(spfs.max() ?? 1) samples per frame exceeds the sample limit", at: "line \(first.line)")
            }
            let used = min(bytes.count, first.byteOffset + format.bytesNeeded(samples: frames * n))
            usedTotal += used
            guard usedTotal <= ReaderLimits.maxRecordSignalBytes else {
                throw ECGFormatError(.invalidValue, file: file, "the header's signal files hold more than \(ReaderLimits.maxRecordSignalBytes) bytes of samples in all (the limit per record)", at: "line \(first.line)")
            }
            groups.append(Group(fileName: fileName, members: list, format: format, bytes: bytes, usedBytes: used))
        }
        if groups.allSatisfy({ $0.bytes == nil }) {
            throw ECGFormatError(.missingData, file: file, "signal file '\(groupOrder[0])' named in the header is missing", at: "line \(header.signals[0].line)")
        }
        self.groups = groups
        self.frames = nsamp ?? 0
        self.maxSPF = header.signals.map(\.samplesPerFrame).max() ?? 1
    }
}
