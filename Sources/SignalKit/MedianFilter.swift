import Foundation

/// Running median with edges extended by the nearest sample
/// (`scipy.ndimage.median_filter(x, size, mode="nearest")`, odd `size`).
/// A sorted window is kept and updated by one binary-search removal and insertion per sample,
/// so the cost is O(n · log k) comparisons plus O(n · k) element moves of a small buffer.
public struct MedianFilter: Sendable {
    public let windowLength: Int

    public init(windowLength: Int) throws {
        guard windowLength >= 1, windowLength % 2 == 1 else {
            throw SignalError.invalidParameter(step: "medianFilter", parameter: "windowLength",
                                               reason: "must be a positive odd number (got \(windowLength))")
        }
        self.windowLength = windowLength
    }

    public func apply(_ x: [Double]) -> [Double] {
        let n = x.count
        guard n > 0, windowLength > 1 else { return x }
        let half = windowLength / 2
        var window = (-half...half).map { x[min(max($0, 0), n - 1)] }.sorted()
        var out = [Double](repeating: 0, count: n)
        window.withUnsafeMutableBufferPointer { w in
            x.withUnsafeBufferPointer { xs in
                out.withUnsafeMutableBufferPointer { o in
                    o[0] = w[half]
                    for i in 1..<n {
                        let leaving = xs[max(i - 1 - half, 0)]
                        let entering = xs[min(i + half, n - 1)]
                        if leaving != entering {
                            // Replace `leaving` by `entering` with one shift of the elements
                            // between their sorted positions (fewer moves than remove + insert).
                            let r = lowerBound(w, leaving)
                            let q = lowerBound(w, entering)
                            if entering > leaving {
                                var k = r
                                while k < q - 1 { w[k] = w[k + 1]; k += 1 }
                                w[q - 1] = entering
                            } else {
                                var k = r
                                while k > q { w[k] = w[k - 1]; k -= 1 }
                                w[q] = entering
                            }
                        }
                        o[i] = w[half]
                    }
                }
            }
        }
        return out
    }

    public func apply(_ x: [Float]) -> [Float] { toFloat(apply(toDouble(x))) }
}

@inline(__always)
func lowerBound(_ a: UnsafeMutableBufferPointer<Double>, _ v: Double) -> Int {
    var lo = 0, hi = a.count
    while lo < hi {
        let mid = (lo + hi) >> 1
        if a[mid] < v { lo = mid + 1 } else { hi = mid }
    }
    return lo
}

/// Baseline wander removal by cascaded median filters (de Chazal et al.): the first window
/// (≈ 200 ms) removes QRS complexes and P waves, the second (≈ 600 ms) T waves; what remains is
/// the baseline, which is subtracted. Window lengths are `round_half_up(w · fs) | 1` samples.
public struct MedianBaselineRemoval: Sendable {
    public let windowsSeconds: [Double]
    public let samplingRate: Double
    let filters: [MedianFilter]

    public init(windowsSeconds: [Double] = [0.2, 0.6], samplingRate: Double) throws {
        guard samplingRate > 0, samplingRate.isFinite else {
            throw SignalError.invalidParameter(step: "baselineRemoval", parameter: "samplingRate", reason: "must be positive (got \(samplingRate))")
        }
        guard !windowsSeconds.isEmpty, windowsSeconds.allSatisfy({ $0 > 0 && $0 <= 10 }) else {
            throw SignalError.invalidParameter(step: "baselineRemoval", parameter: "windowsSeconds",
                                               reason: "must be one or more durations in (0, 10] s (got \(windowsSeconds))")
        }
        self.windowsSeconds = windowsSeconds
        self.samplingRate = samplingRate
        filters = try windowsSeconds.map { try MedianFilter(windowLength: oddWindow(seconds: $0, samplingRate: samplingRate)) }
    }

    public var windowLengths: [Int] { filters.map(\.windowLength) }

    public func baseline(_ x: [Double]) -> [Double] {
        filters.reduce(x) { $1.apply($0) }
    }

    public func apply(_ x: [Double]) -> [Double] {
        let b = baseline(x)
        return zip(x, b).map { $0 - $1 }
    }

    public func apply(_ x: [Float]) -> [Float] { toFloat(apply(toDouble(x))) }
}

/// `floor(seconds · fs + 0.5) | 1`, at least 1 — the same rule as the Python reference.
public func oddWindow(seconds: Double, samplingRate: Double) -> Int {
    max(1, checkedInt((seconds * samplingRate + 0.5).rounded(.down)) | 1)
}
