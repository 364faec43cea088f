import Crypto
import Foundation

public struct ScreeningShardError: Error, CustomStringConvertible, Sendable {
    public var text: String
    public var message: String
    public var description: String { "--shard \(text): \(message)" }
}

/// One of `count` disjoint parts of a screening run's inputs (`screen --shard K/N`, K in 0..<N, the
/// numbering of a Slurm array `--array=0-(N-1)`).
///
/// An input belongs to the shard `SHA-256(key) mod N`, where the key is its path relative to the
/// PATH argument it was found under (a PATH that is itself a file: its last component). The
/// membership of a file therefore depends on nothing but its own key: not on the order in which
/// directories are listed or shards run, not on the other files, and not on how the root is spelled
/// (`data`, `./data/`, `/mnt/x/data`). Swift's `Hasher` would not do: it is seeded per process.
/// Every shard walks the whole tree but reads only its own files (an unknown extension is sniffed
/// only inside its shard).
public struct ScreeningShard: Sendable, Equatable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    public init(index: Int, count: Int) throws {
        guard count >= 1 else { throw ScreeningShardError(text: "\(index)/\(count)", message: "the shard count N must be at least 1") }
        guard (0..<count).contains(index) else {
            throw ScreeningShardError(text: "\(index)/\(count)", message: "the shard index K must be in 0…\(count - 1) (shards are numbered from 0, like a Slurm array 0-\(count - 1))")
        }
        self.index = index
        self.count = count
    }

    /// Parses "K/N".
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]) else {
            throw ScreeningShardError(text: text, message: "expected K/N with whole numbers, e.g. 0/4")
        }
        try self.init(index: k, count: n)
    }

    public var description: String { "\(index)/\(count)" }

    /// The shard (0..<count) a key belongs to.
    public static func shardIndex(ofKey key: String, count: Int) -> Int {
        let digest = Array(SHA256.hash(data: Data(key.utf8)))
        let head = digest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Int(head % UInt64(max(1, count)))
    }

    public func contains(key: String) -> Bool { Self.shardIndex(ofKey: key, count: count) == index }
}
