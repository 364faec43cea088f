// NeuralCore: dense Float32 tensors, BLAS-backed layers and a safetensors reader. No cardiology here.

/// A dense, contiguous, row-major Float32 tensor. Layers keep their weights in these; activations
/// live in preallocated scratch buffers (see `Scratch`) so hot loops never allocate.
public struct Tensor: Sendable, Equatable {
    public let shape: [Int]
    public var values: [Float]

    public var count: Int { values.count }
    public var rank: Int { shape.count }

    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "Tensor: \(values.count) values for shape \(shape)")
        self.shape = shape
        self.values = values
    }

    public init(zeros shape: [Int]) {
        self.shape = shape
        self.values = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    /// True when every value is finite (no NaN, no ±Inf).
    public var isFinite: Bool {
        values.withUnsafeBufferPointer { p in
            for v in p where !v.isFinite { return false }
            return true
        }
    }
}

/// Errors raised while reading weights. They name the file and the tensor.
public enum NeuralCoreError: Error, Equatable, CustomStringConvertible {
    case fileUnreadable(file: String, reason: String)
    case malformedSafetensors(file: String, reason: String)
    case unsupportedDType(file: String, tensor: String, dtype: String)
    case missingTensor(file: String, tensor: String)
    case shapeMismatch(file: String, tensor: String, expected: [Int], found: [Int])
    case nonFiniteWeights(file: String, tensor: String)

    public var description: String {
        switch self {
        case let .fileUnreadable(f, r): return "\(f): cannot read weights (\(r))"
        case let .malformedSafetensors(f, r): return "\(f): malformed safetensors file: \(r)"
        case let .unsupportedDType(f, t, d): return "\(f): tensor '\(t)' has unsupported dtype \(d) (F32, F16, BF16 are read)"
        case let .missingTensor(f, t): return "\(f): tensor '\(t)' is missing"
        case let .shapeMismatch(f, t, e, s): return "\(f): tensor '\(t)' has shape \(s), expected \(e)"
        case let .nonFiniteWeights(f, t): return "\(f): tensor '\(t)' contains NaN or infinite values"
        }
    }
}

/// Anything that hands out named weight tensors with a checked shape.
public protocol WeightSource {
    func tensor(_ name: String, shape: [Int]) throws -> Tensor
    func contains(_ name: String) -> Bool
}

/// A growable Float buffer reused across calls: `ensure` reallocates only when a larger size is
/// needed, so a forward pass allocates on its first call only.
public final class FloatBuffer {
    public private(set) var pointer: UnsafeMutablePointer<Float>
    public private(set) var capacity: Int

    public init(capacity: Int = 0) {
        self.capacity = max(capacity, 1)
        pointer = .allocate(capacity: self.capacity)
        pointer.initialize(repeating: 0, count: self.capacity)
    }

    deinit { pointer.deallocate() }

    @discardableResult
    public func ensure(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            pointer.deallocate()
            capacity = count
            pointer = .allocate(capacity: count)
            pointer.initialize(repeating: 0, count: count)
        }
        return pointer
    }
}
