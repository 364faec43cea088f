// CommonKit — the leaf module of small utilities that several layers need (random streams, …),
// so that no front end depends on the model module for them. It imports nothing of the project.

/// Deterministic 64-bit generator (SplitMix64): the same seed gives the same generator noise, case
/// orders and bootstrap resamples on every machine, and the Python references replay it exactly.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform index in 0..<n by modulo (bias < n / 2⁶⁴, irrelevant for study sizes; kept simple so
    /// the Python replay is one line).
    public mutating func index(below n: Int) -> Int { Int(next() % UInt64(n)) }
}
