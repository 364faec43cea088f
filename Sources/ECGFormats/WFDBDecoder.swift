import Crypto
import Foundation

/// The bytes of one WFDB signal file: in memory (tests, fuzzing) or read by offset from the open
/// file, so decoding a window of a 1 GB record costs the window's bytes, not the file's.
final class WFDBSignalBytes: @unchecked Sendable {
    let count: Int
    let path: String
    private let data: Data?
    private let fd: Int32
    /// The span of bytes `withBytes` has handed out (decoding reads one contiguous stretch): what
    /// a windowed read hashes, so its digest costs what its decoding did.
    private(set) var readSpan: Range<Int>?

    init(data: Data, path: String) {
        self.data = data
        self.fd = -1
        self.count = data.count
        self.path = path
    }

    /// Opens a regular file (the symlink's target is what is checked), refusing FIFOs, devices and
    /// files over `limit` bytes, with errors that name the file.
    init(opening url: URL, limit: Int = ReaderLimits.maxFileBytes) throws {
        let path = url.path
        // O_NONBLOCK: a FIFO swapped in cannot hang the open; fstat below then refuses it.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let code = errno
            throw ECGFormatError(.unreadable, file: path, code == ENOENT ? "WFDB signal file does not exist" : "cannot be opened: \(describeErrno(code))")
        }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw ECGFormatError(.unreadable, file: path, "is not a regular file (it is \(fileKindName(mode: st.st_mode)))")
        }
        guard Int64(st.st_size) <= Int64(limit) else {
            close(fd)
            throw ECGFormatError(.invalidValue, file: path, "WFDB signal file is \(st.st_size) bytes, larger than the \(limit)-byte limit")
        }
        self.fd = fd
        self.data = nil
        self.count = Int(st.st_size)
        self.path = path
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Calls `body` with the bytes in `range` (within `0..<count`).
    func withBytes<T>(_ range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        if !range.isEmpty {
            readSpan = readSpan.map { min($0.lowerBound, range.lowerBound)..<max($0.upperBound, range.upperBound) } ?? range
        }
        if let data {
            return try data.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[range])) }
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, range.count), alignment: 8)
        defer { buffer.deallocate() }
        var got = 0
        while got < range.count {
            let n = pread(fd, buffer.baseAddress!.advanced(by: got), range.count - got, off_t(range.lowerBound + got))
            if n < 0 { if errno == EINTR { continue }; throw ECGFormatError(.unreadable, file: path, "cannot be read: \(describeErrno(errno))") }
            if n == 0 { throw ECGFormatError(.truncated, file: path, "WFDB signal file ended while reading bytes \(range.lowerBound)..<\(range.upperBound)") }
            got += n
        }
        return try body(UnsafeRawBufferPointer(rebasing: buffer[0..<range.count]))
    }

    /// Feeds the file's first `limit` bytes to `hasher` in 4 MB pieces (constant memory for any size).
    func hash(into hasher: inout SHA256, upTo limit: Int) throws {
        try hash(into: &hasher, range: 0..<min(count, max(0, limit)))
    }

    /// Feeds bytes `range` (clamped to the file) to `hasher` in 4 MB pieces.
    func hash(into hasher: inout SHA256, range: Range<Int>) throws {
        let r = range.clamped(to: 0..<count)
        if let data { data.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[r])) }; return }
        let piece = 4 << 20
        var start = r.lowerBound
        while start < r.upperBound {
            let end = min(r.upperBound, start + piece)
            try withBytes(start..<end) { hasher.update(bufferPointer: $0) }
            start = end
        }
    }
}

/// Decodes the signals one WFDB signal file holds, for a window of frames (one frame = one sample
/// time, `samplesPerFrame` samples of each signal). Reads only the window's bytes, except for
/// format 8 (first differences), which is decoded streaming from the file's start, keeping only the window.
struct WFDBFileDecoder {
    /// The file's signals in the header's (interleaving) order.
    let specs: [WFDBSignalSpec]
    let format: WFDBFormat
    /// The record's length in frames.
    let frames: Int
    /// Samples decoded per read (rounded to whole frames): bounds the working memory.
    var samplesPerChunk = 1 << 20
    /// Samples de-interleaved at a time (whole frames): small enough to stay in L1 (32 KB of Int32).
    var samplesPerBlock = 8192

    var frameSize: Int { specs.reduce(0) { $0 + $1.samplesPerFrame } }

    /// Digital samples of each signal for output frames `window` (frame-major, `samplesPerFrame`
    /// per frame), skew applied as wfdb-python does (output frame f holds file frame f + skew;
    /// frames past the end are 0 and the last `skew` samples invalid). With `sums`, also the sum
    /// of every digital sample of each signal in the file (for checksums: the whole file is read).
    func decode(window: Range<Int>, bytes: WFDBSignalBytes, sums wantSums: Bool) throws -> (digital: [[Int32]], sums: [Int64]) {
        let n = frameSize
        let spfs = specs.map(\.samplesPerFrame)
        let shifts = specs.map { max(0, $0.skew) }
        var starts: [Int] = []
        var position = 0
        for spf in spfs { starts.append(position); position += spf }
        var positionMember: [Int] = []
        for (j, spf) in spfs.enumerated() { positionMember += Array(repeating: j, count: spf) }
        var running = specs.map { Int32(clamping: $0.initialValue) }

        let firstNeeded = wantSums || format.isDifference ? 0 : min(frames, window.lowerBound + (shifts.min() ?? 0))
        let endNeeded = wantSums ? frames : min(frames, window.upperBound + (shifts.max() ?? 0))
        var digital = spfs.map { [Int32](repeating: 0, count: window.count * $0) }
        var sums = [Int64](repeating: 0, count: specs.count)
        let g = format.samplesPerGroup
        let chunkFrames = max(1, samplesPerChunk / max(1, n))
        var buffer = [Int32](repeating: 0, count: min(endNeeded - firstNeeded, chunkFrames) * n + g)
        let byteOffset = specs.first?.byteOffset ?? 0
        var c0 = firstNeeded
        while c0 < endNeeded {
            let c1 = min(endNeeded, c0 + chunkFrames)
            // Start on a group boundary (212 packs 2 samples, 310/311 pack 3) and skip the extra samples.
            let s0 = c0 * n
            let aligned = s0 - s0 % g
            let skip = s0 - aligned
            let count = c1 * n - aligned
            let byteStart = byteOffset + (aligned / g) * format.bytesPerGroup
            try bytes.withBytes(byteStart..<(byteStart + format.bytesNeeded(samples: count))) { raw in
                buffer.withUnsafeMutableBufferPointer { out in
                    format.unpack(raw, count: count, into: out, running: &running, positionMember: positionMember)
                }
            }
            // De-interleave in blocks of frames that stay in L1 while every signal takes its
            // samples (one strided pass per signal over the whole chunk would stream it from memory
            // once per signal).
            let blockFrames = max(1, samplesPerBlock / max(1, n))
            buffer.withUnsafeBufferPointer { src in
                var b0 = c0
                while b0 < c1 {
                    let b1 = min(c1, b0 + blockFrames)
                    for j in specs.indices {
                        let spf = spfs[j], start = starts[j], shift = shifts[j]
                        if wantSums {
                            var sum: Int64 = 0
                            var base = skip + (b0 - c0) * n + start
                            for _ in b0..<b1 {
                                for k in 0..<spf { sum &+= Int64(src[base + k]) }
                                base += n
                            }
                            sums[j] &+= sum
                        }
                        // File frames f whose output frame f − skew lies in the window. Samples past
                        // the record's end (skew) are never written here; the invalid value goes in below.
                        let fLo = max(b0, window.lowerBound + shift), fHi = min(b1, window.upperBound + shift)
                        guard fLo < fHi else { continue }
                        digital[j].withUnsafeMutableBufferPointer { dst in
                            if spf == 1 {
                                var from = skip + (fLo - c0) * n + start, to = fLo - shift - window.lowerBound
                                for _ in fLo..<fHi { dst[to] = src[from]; from += n; to += 1 }
                            } else {
                                for f in fLo..<fHi {
                                    let base = skip + (f - c0) * n + start, outBase = (f - shift - window.lowerBound) * spf
                                    for k in 0..<spf { dst[outBase + k] = src[base + k] }
                                }
                            }
                        }
                    }
                    b0 = b1
                }
            }
            c0 = c1
        }
        for j in specs.indices where shifts[j] > 0 {
            let spf = spfs[j]
            let validEnd = frames * spf - shifts[j]
            let lo = window.lowerBound * spf
            for i in max(validEnd, lo)..<max(max(validEnd, lo), window.upperBound * spf) { digital[j][i - lo] = format.invalidValue }
        }
        return (digital, sums)
    }
}
