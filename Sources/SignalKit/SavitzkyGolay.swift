import Foundation

/// Savitzky–Golay smoothing (`scipy.signal.savgol_filter(x, windowLength, polyorder,
/// mode="interp")`): each interior sample is replaced by the value at the window centre of the
/// least-squares polynomial of degree `polyorder` over `windowLength` samples; the first and last
/// `windowLength/2` samples take the values of the polynomial fitted to the first / last window.
public struct SavitzkyGolayFilter: Sendable {
    public let windowLength: Int
    public let polyorder: Int
    /// weights[t + half] evaluate the window's fitted polynomial at offset t ∈ [−half, half].
    let weights: [[Double]]

    public init(windowLength: Int, polyorder: Int) throws {
        let step = "savitzkyGolay"
        guard windowLength >= 3, windowLength % 2 == 1, windowLength <= 1001 else {
            throw SignalError.invalidParameter(step: step, parameter: "windowLength", reason: "must be an odd number in 3…1001 (got \(windowLength))")
        }
        guard polyorder >= 0, polyorder < windowLength, polyorder <= 10 else {
            throw SignalError.invalidParameter(step: step, parameter: "polyorder",
                                               reason: "must be 0…10 and below windowLength \(windowLength) (got \(polyorder))")
        }
        self.windowLength = windowLength
        self.polyorder = polyorder
        let half = windowLength / 2
        let m = polyorder + 1
        // Normal equations AᵀA for A[i][k] = tᵢᵏ, tᵢ = i − half (centred for conditioning).
        var ata = [[Double]](repeating: [Double](repeating: 0, count: m), count: m)
        for i in 0..<windowLength {
            let t = Double(i - half)
            for r in 0..<m { for c in 0..<m { ata[r][c] += pow(t, Double(r + c)) } }
        }
        let inverse = invert(ata)
        weights = (-half...half).map { target -> [Double] in
            // w = A (AᵀA)⁻¹ v(target), v = (1, target, target², …)
            let v = (0..<m).map { pow(Double(target), Double($0)) }
            let u = (0..<m).map { r in (0..<m).reduce(0.0) { $0 + inverse[r][$1] * v[$1] } }
            return (0..<windowLength).map { i in
                let t = Double(i - half)
                return (0..<m).reduce(0.0) { $0 + u[$1] * pow(t, Double($1)) }
            }
        }
    }

    /// The centre weights (`scipy.signal.savgol_coeffs(windowLength, polyorder)`).
    public var coefficients: [Double] { weights[windowLength / 2] }

    public func apply(_ x: [Double]) throws -> [Double] {
        let n = x.count
        guard n >= windowLength else {
            throw SignalError.signalTooShort(step: "savitzkyGolay", needed: windowLength - 1, got: n)
        }
        let half = windowLength / 2
        var y = [Double](repeating: 0, count: n)
        x.withUnsafeBufferPointer { xs in
            let centre = weights[half]
            for i in half..<(n - half) {
                var acc = 0.0
                for j in 0..<windowLength { acc += centre[j] * xs[i - half + j] }
                y[i] = acc
            }
            for p in 0..<half {
                let wl = weights[p], wr = weights[half + 1 + p]
                var left = 0.0, right = 0.0
                for j in 0..<windowLength {
                    left += wl[j] * xs[j]
                    right += wr[j] * xs[n - windowLength + j]
                }
                y[p] = left
                y[n - half + p] = right
            }
        }
        return y
    }

    public func apply(_ x: [Float]) throws -> [Float] { toFloat(try apply(toDouble(x))) }
}

/// Gauss–Jordan inverse with partial pivoting of a small symmetric positive-definite matrix.
func invert(_ matrix: [[Double]]) -> [[Double]] {
    let n = matrix.count
    var a = matrix
    var inv = (0..<n).map { r in (0..<n).map { $0 == r ? 1.0 : 0.0 } }
    for col in 0..<n {
        let pivot = (col..<n).max { abs(a[$0][col]) < abs(a[$1][col]) } ?? col
        a.swapAt(col, pivot)
        inv.swapAt(col, pivot)
        let d = a[col][col]
        for c in 0..<n { a[col][c] /= d; inv[col][c] /= d }
        for r in 0..<n where r != col {
            let f = a[r][col]
            if f == 0 { continue }
            for c in 0..<n { a[r][c] -= f * a[col][c]; inv[r][c] -= f * inv[col][c] }
        }
    }
    return inv
}
