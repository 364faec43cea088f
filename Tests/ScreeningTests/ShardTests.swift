import ECGFormats
import Foundation
import Testing
@testable import Screening

private func temporaryFolder(_ name: String) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

private func paths(_ items: [DiscoveredItem]) -> [String] {
    items.map { item in
        switch item {
        case .ecgFile(let p), .unreadable(let p, _): return p
        }
    }
}

@Test func shardOfAKeyIsSHA256ModN() {
    // Reference values from Python: int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % N
    #expect(ScreeningShard.shardIndex(ofKey: "P01-healthy/ecg.hea", count: 4) == 3)
    #expect(ScreeningShard.shardIndex(ofKey: "a/b.csv", count: 1000) == 427)
    #expect(ScreeningShard.shardIndex(ofKey: "x.xml", count: 1000) == 882)
}

@Test func shardSpecificationIsParsedAndChecked() throws {
    let shard = try ScreeningShard(parsing: "2/5")
    #expect(shard.index == 2 && shard.count == 5)
    for bad in ["5/5", "-1/4", "1/0", "1", "a/b", "1/2/3", ""] {
        #expect(throws: ScreeningShardError.self, "\(bad)") { try ScreeningShard(parsing: bad) }
    }
}

/// The shards of a folder are disjoint and together are the whole folder; a file's shard does not
/// change when other files appear or when the root is spelled another way.
@Test func shardsPartitionTheInputsStably() throws {
    let dir = try temporaryFolder("shards")
    defer { try? FileManager.default.removeItem(at: dir) }
    for i in 0..<40 {
        let sub = dir.appendingPathComponent("s\(i % 7)")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        try Data("I,II\n1,2\n".utf8).write(to: sub.appendingPathComponent("e\(i).csv"))
    }
    let discovery = ECGFileDiscovery()
    let all = Set(paths(discovery.discover([dir.path])))
    #expect(all.count == 40)
    var union = Set<String>()
    var sizes: [Int] = []
    for k in 0..<3 {
        let part = paths(discovery.discover([dir.path], shard: try ScreeningShard(index: k, count: 3)))
        #expect(union.isDisjoint(with: part))
        union.formUnion(part)
        sizes.append(part.count)
        // Another spelling of the same root: the same files, under that spelling.
        let respelled = paths(discovery.discover([dir.path + "/"], shard: try ScreeningShard(index: k, count: 3)))
        #expect(respelled.map { $0.replacingOccurrences(of: "//", with: "/") } == part)
    }
    #expect(union == all)
    #expect(sizes.allSatisfy { $0 > 0 }, "sizes \(sizes)")
    // New files elsewhere in the tree move no existing file to another shard.
    let before = paths(discovery.discover([dir.path], shard: try ScreeningShard(index: 1, count: 3)))
    for i in 40..<60 { try Data("I\n1\n".utf8).write(to: dir.appendingPathComponent("new\(i).csv")) }
    let after = paths(discovery.discover([dir.path], shard: try ScreeningShard(index: 1, count: 3)))
    #expect(Set(before).isSubset(of: Set(after)))
}

@Test func mergeWritesOneLinePerInputSortedAndListsMissing() throws {
    let dir = try temporaryFolder("merge")
    defer { try? FileManager.default.removeItem(at: dir) }
    let a = dir.appendingPathComponent("a.jsonl").path, b = dir.appendingPathComponent("b.jsonl").path
    do {
        let logA = try ResultLog(path: a), logB = try ResultLog(path: b)
        try logA.append(.failure(file: "/data/z.csv", kind: "truncated", message: "short"))
        try logA.append(.failure(file: "/data/m.csv", kind: "corrupt", message: "bad"))
        try logB.append(.failure(file: "/data/a.csv", kind: "corrupt", message: "bad"))
        // The same input again with the same line (e.g. a shard screened twice): written once.
        try logB.append(.failure(file: "/data/m.csv", kind: "corrupt", message: "bad"))
    }
    let out = dir.appendingPathComponent("merged.jsonl").path
    let report = try ShardMerge.merge(shards: [a, b], into: out)
    #expect(report.inputs == 3 && report.identicalDuplicates == 1 && report.failedInputs == 3)
    let files = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map {
        try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])["file"] as? String
    }
    #expect(files == ["/data/a.csv", "/data/m.csv", "/data/z.csv"])

    // --expect: every discovered input that no shard reports is listed.
    let inputs = dir.appendingPathComponent("inputs")
    try FileManager.default.createDirectory(at: inputs, withIntermediateDirectories: true)
    try Data("I\n1\n".utf8).write(to: inputs.appendingPathComponent("q.csv"))
    let withExpect = try ShardMerge.merge(shards: [a, b], into: out, expect: [inputs.path])
    #expect(withExpect.missing == [inputs.appendingPathComponent("q.csv").path])
    #expect(withExpect.unexpected == 3)
}

@Test func mergeRefusesConflictsUnfinishedShardsAndShardsInUse() throws {
    let dir = try temporaryFolder("merge-refuse")
    defer { try? FileManager.default.removeItem(at: dir) }
    let a = dir.appendingPathComponent("a.jsonl").path, b = dir.appendingPathComponent("b.jsonl").path
    let out = dir.appendingPathComponent("merged.jsonl").path
    do {
        let logA = try ResultLog(path: a), logB = try ResultLog(path: b)
        try logA.append(.failure(file: "/data/m.csv", kind: "corrupt", message: "bad"))
        try logB.append(.failure(file: "/data/m.csv", kind: "truncated", message: "short"))
    }
    #expect {
        try ShardMerge.merge(shards: [a, b], into: out)
    } throws: { error in
        guard case ShardMergeError.conflicts(let list) = error else { return false }
        return list.count == 1 && list[0].input == "/data/m.csv" && list[0].first == "\(a):1" && list[0].second == "\(b):1"
    }
    #expect(!FileManager.default.fileExists(atPath: out), "a refused merge writes nothing")

    // A shard whose screen was killed mid-line.
    let handle = try #require(FileHandle(forWritingAtPath: b))
    try handle.seekToEnd()
    try handle.write(contentsOf: Data("{\"file\":\"/data/n.c".utf8))
    try handle.close()
    #expect { try ShardMerge.merge(shards: [b], into: out) } throws: { error in
        if case ShardMergeError.unfinished(let file) = error { return file == b }
        return false
    }

    // A shard that a screen still holds open.
    do {
        let live = try ResultLog(path: a)
        #expect { try ShardMerge.merge(shards: [a], into: out) } throws: { error in
            if case ShardMergeError.inUse(let file) = error { return file == a }
            return false
        }
        withExtendedLifetime(live) {}
    }
    #expect { try ShardMerge.merge(shards: [a], into: a) } throws: { error in
        if case ShardMergeError.outputIsAShard = error { return true }
        return false
    }
}
