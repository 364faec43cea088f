import Foundation

/// Numbers from a file shown as whole numbers. `Int(x)` traps on NaN, ±∞ and anything beyond ±9.2e18
/// (a `<PRInterval>1e300</PRInterval>`), so every display of a read or derived value goes through here.
public enum NumberText {
    /// "412" for 411.6; `missing` for nil or a non-finite value; "1e+300" beyond the range of Int.
    public static func whole(_ x: Double?, missing: String = "–") -> String {
        guard let x, x.isFinite else { return missing }
        let r = x.rounded()
        guard let i = Int(exactly: r), abs(r) < 1e15 else { return String(format: "%.3g", x) }
        return String(i)
    }
}

extension Int {
    /// `Int(x)` for a value read from a file, or nil when it is not finite or beyond the range of Int
    /// (where the plain conversion traps).
    public init?(checked x: Double) {
        guard x.isFinite, x > -9.2e18, x < 9.2e18 else { return nil }
        self.init(x)
    }
}
