import Foundation

/// Keeps `threads` threads calling `work(k)` (k = 0, 1, 2, … spread over the threads) until `stop`,
/// for tests that compute something beside concurrent work and compare it with a lone run.
public final class ConcurrentHammer: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    private var rounds = 0
    private let group = DispatchGroup()

    public init() {}

    public func start(threads: Int, _ work: @escaping @Sendable (Int) -> Void) {
        for t in 0..<threads {
            group.enter()
            Thread.detachNewThread { [self] in
                defer { group.leave() }
                var k = t
                while !lock.withLock({ stopped }) { work(k); k += threads; lock.withLock { rounds += 1 } }
            }
        }
    }

    /// Stops the threads, waits for them, and returns how many calls of `work` finished.
    public func stop() -> Int {
        lock.withLock { stopped = true }
        group.wait()
        return lock.withLock { rounds }
    }
}
