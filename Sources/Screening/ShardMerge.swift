import ECGFormats
import Foundation
import Imaging

/// Why shard files could not be merged; each names the file and where.
public enum ShardMergeError: Error, CustomStringConvertible, Sendable {
    /// Two shards (or two lines) report the same input differently.
    public struct Conflict: Sendable, Equatable {
        public var input: String
        public var first: String      // "shard-file:line"
        public var second: String
        public var firstSHA256: String?
        public var secondSHA256: String?
    }

    case unreadable(file: String, reason: String)
    case malformed(file: String, line: Int, reason: String)
    case unfinished(file: String)
    case inUse(file: String)
    case conflicts([Conflict])
    case outputIsAShard(file: String)

    public var description: String {
        switch self {
        case .unreadable(let file, let reason): return "\(file): cannot read shard: \(reason)"
        case .malformed(let file, let line, let reason): return "\(file):\(line): not a screening result line: \(reason)"
        case .unfinished(let file):
            return "\(file): ends in an unfinished line, so the screen writing it was stopped; run that shard's screen again (it resumes) before merging"
        case .inUse(let file): return "\(file): still being written by an ecg2cmr screen (its .lock is held); merge after it finishes"
        case .outputIsAShard(let file): return "\(file): the merged output would replace one of the shards; choose another --out"
        case .conflicts(let list):
            var lines = ["\(list.count) input(s) reported differently by different lines; nothing written:"]
            for c in list.prefix(20) {
                var line = "  \(c.input): \(c.first) vs \(c.second)"
                if c.firstSHA256 != c.secondSHA256 {
                    line += " (input sha256 \(c.firstSHA256 ?? "none") vs \(c.secondSHA256 ?? "none"): the file changed between the screens)"
                }
                lines.append(line)
            }
            if list.count > 20 { lines.append("  … \(list.count - 20) more") }
            return lines.joined(separator: "\n")
        }
    }
}

public struct ShardMergeReport: Sendable {
    public var shards = 0
    /// Lines written: one per input.
    public var inputs = 0
    public var failedInputs = 0
    /// The same line found again (an input screened twice with the same result): written once.
    public var identicalDuplicates = 0
    /// With `expect`: inputs that `expect` discovers but no shard reports, in discovery order.
    public var missing: [String] = []
    /// With `expect`: lines for files that `expect` does not discover (a root spelled differently?).
    public var unexpected = 0
}

/// `screen merge`: the result lines of the shards of one screening run, one line per input (path
/// with its input SHA-256), sorted by path, written atomically. The same input reported twice with
/// different lines (another content, another model) is refused rather than resolved by a guess; with
/// `expect` (the PATH arguments of the run) every input that no shard reports is listed.
///
/// Lines are kept as the bytes the shards hold (memory-mapped; the index holds a path and a range
/// per input), so a merge of a million results needs the index, not the results, in memory.
public enum ShardMerge {
    public static func merge(shards: [String], into output: String, expect: [String]? = nil) throws -> ShardMergeReport {
        let outURL = URL(fileURLWithPath: output)
        var outStat = stat()
        let outExists = stat(output, &outStat) == 0
        var report = ShardMergeReport()
        report.shards = shards.count

        struct Entry { var shard: Int; var range: Range<Int>; var line: Int; var failed: Bool }
        struct Head: Decodable { var file: String; var status: String; var inputSHA256: String? }
        var contents: [Data] = []
        var entries: [String: Entry] = [:]
        var conflicts: [ShardMergeError.Conflict] = []
        let decoder = JSONDecoder()
        for (shardIndex, path) in shards.enumerated() {
            var st = stat()
            guard stat(path, &st) == 0 else { throw ShardMergeError.unreadable(file: path, reason: describeErrno(errno)) }
            guard (st.st_mode & S_IFMT) == S_IFREG else { throw ShardMergeError.unreadable(file: path, reason: "not a regular file") }
            if outExists, st.st_dev == outStat.st_dev, st.st_ino == outStat.st_ino { throw ShardMergeError.outputIsAShard(file: output) }
            if ExclusiveLock.isHeld(lockPath: path + ".lock") { throw ShardMergeError.inUse(file: path) }
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
                throw ShardMergeError.unreadable(file: path, reason: error.localizedDescription)
            }
            if let last = data.last, last != UInt8(ascii: "\n") { throw ShardMergeError.unfinished(file: path) }
            contents.append(data)
            var start = data.startIndex
            var lineNumber = 0
            while start < data.endIndex {
                lineNumber += 1
                let end = data[start...].firstIndex(of: UInt8(ascii: "\n")) ?? data.endIndex
                let range = start..<end
                start = end + 1
                let head: Head
                do { head = try decoder.decode(Head.self, from: data[range]) } catch {
                    throw ShardMergeError.malformed(file: path, line: lineNumber,
                                                    reason: range.isEmpty ? "empty line" : "no JSON object with \"file\" and \"status\"")
                }
                let entry = Entry(shard: shardIndex, range: range, line: lineNumber, failed: head.status == "error")
                guard let earlier = entries[head.file] else { entries[head.file] = entry; continue }
                if contents[earlier.shard][earlier.range] == data[range] {
                    report.identicalDuplicates += 1
                } else {
                    let earlierSHA = (try? decoder.decode(Head.self, from: contents[earlier.shard][earlier.range]))?.inputSHA256
                    conflicts.append(.init(input: head.file, first: "\(shards[earlier.shard]):\(earlier.line)", second: "\(path):\(lineNumber)",
                                           firstSHA256: earlierSHA, secondSHA256: head.inputSHA256))
                }
            }
        }
        guard conflicts.isEmpty else { throw ShardMergeError.conflicts(conflicts) }

        let ordered = entries.keys.sorted()
        try AtomicFile.write(to: outURL) { emit in
            var buffer = Data()
            buffer.reserveCapacity(1 << 20)
            for file in ordered {
                guard let entry = entries[file] else { continue }
                buffer.append(contents[entry.shard][entry.range])
                buffer.append(UInt8(ascii: "\n"))
                if buffer.count >= 1 << 20 { try emit(buffer); buffer.removeAll(keepingCapacity: true) }
            }
            if !buffer.isEmpty { try emit(buffer) }
        }
        report.inputs = ordered.count
        report.failedInputs = entries.values.filter(\.failed).count

        if let expect {
            var expected = Set<String>()
            for item in ECGFileDiscovery().discover(expect) {
                let path: String
                switch item {
                case .ecgFile(let p), .unreadable(let p, _): path = p
                }
                expected.insert(path)
                if entries[path] == nil { report.missing.append(path) }
            }
            report.unexpected = entries.keys.filter { !expected.contains($0) }.count
        }
        return report
    }
}
