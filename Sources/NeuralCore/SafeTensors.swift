import Foundation

/// A memory-mapped safetensors file (8-byte LE header length, JSON header, data buffer).
///
/// The whole header is validated when the file is opened: header ≤ 100 MB, every tensor's dtype,
/// shape and `data_offsets` checked (in bounds, size = product(shape) × dtype size, no overlaps),
/// so a truncated or corrupt file fails here, never later.
public final class SafeTensorsFile: WeightSource, @unchecked Sendable {
    public enum DType: String, Sendable {
        case f32 = "F32", f16 = "F16", bf16 = "BF16"
        var byteSize: Int { self == .f32 ? 4 : 2 }
    }

    public struct Entry: Sendable, Equatable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        /// Byte range within the data buffer.
        public let begin: Int
        public let end: Int
    }

    public static let maxHeaderBytes = 100 * 1024 * 1024

    public let url: URL
    public let entries: [String: Entry]
    public let metadata: [String: String]
    private let data: Data          // memory-mapped
    private let dataStart: Int

    private var fileName: String { url.lastPathComponent }

    /// Maps the file and validates its header.
    public convenience init(url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw NeuralCoreError.fileUnreadable(file: url.lastPathComponent, reason: error.localizedDescription)
        }
        try self.init(data: data, url: url)
    }

    /// Validates safetensors bytes already in memory; `url` only names them in errors.
    public init(data: Data, url: URL) throws {
        self.url = url
        let file = url.lastPathComponent
        // The index arithmetic below assumes a zero-based buffer; a slice of a larger Data is not.
        let data = data.startIndex == 0 ? data : Data(data)
        guard data.count >= 8 else {
            throw NeuralCoreError.malformedSafetensors(file: file, reason: "file is \(data.count) bytes, shorter than the 8-byte header length")
        }
        // Unaligned little-endian u64.
        var headerLength: UInt64 = 0
        data.withUnsafeBytes { raw in
            for i in 0..<8 { headerLength |= UInt64(raw[i]) << (8 * UInt64(i)) }
        }
        guard headerLength <= UInt64(Self.maxHeaderBytes) else {
            throw NeuralCoreError.malformedSafetensors(file: file, reason: "header length \(headerLength) exceeds 100 MB")
        }
        let n = Int(headerLength)
        guard 8 + n <= data.count else {
            throw NeuralCoreError.malformedSafetensors(file: file, reason: "header length \(n) runs past the end of the file (\(data.count) bytes): truncated?")
        }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n)))
        } catch {
            throw NeuralCoreError.malformedSafetensors(file: file, reason: "header is not valid JSON")
        }
        guard let dict = json as? [String: Any] else {
            throw NeuralCoreError.malformedSafetensors(file: file, reason: "header is not a JSON object")
        }
        let bufferSize = data.count - 8 - n
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in dict {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else {
                    throw NeuralCoreError.malformedSafetensors(file: file, reason: "__metadata__ is not an object")
                }
                for (k, v) in m {
                    guard let s = v as? String else {
                        throw NeuralCoreError.malformedSafetensors(file: file, reason: "__metadata__ value for '\(k)' is not a string")
                    }
                    metadata[k] = s
                }
                continue
            }
            guard let info = value as? [String: Any],
                  let dtypeName = info["dtype"] as? String,
                  let shapeAny = info["shape"] as? [Any],
                  let offsetsAny = info["data_offsets"] as? [Any], offsetsAny.count == 2 else {
                throw NeuralCoreError.malformedSafetensors(file: file, reason: "tensor '\(name)' lacks dtype, shape or data_offsets")
            }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw NeuralCoreError.unsupportedDType(file: file, tensor: name, dtype: dtypeName)
            }
            var shape: [Int] = []
            var elements = 1
            for s in shapeAny {
                guard let d = Self.jsonInt(s), d >= 0 else {
                    throw NeuralCoreError.malformedSafetensors(file: file, reason: "tensor '\(name)' has an invalid shape")
                }
                shape.append(d)
                let (p, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow else {
                    throw NeuralCoreError.malformedSafetensors(file: file, reason: "tensor '\(name)' shape overflows")
                }
                elements = p
            }
            guard let begin = Self.jsonInt(offsetsAny[0]), let end = Self.jsonInt(offsetsAny[1]),
                  begin >= 0, end >= begin else {
                throw NeuralCoreError.malformedSafetensors(file: file, reason: "tensor '\(name)' has invalid data_offsets")
            }
            guard end <= bufferSize else {
                throw NeuralCoreError.malformedSafetensors(file: file, reason: "tensor '\(name)' ends at byte \(end) of a \(bufferSize)-byte data buffer: truncated?")
            }
            // Checked explicitly, not left to the trap on overflow: a wrapped product would let a huge
            // shape pass with an empty byte range (and allocate product(shape) floats on read).
            let (needed, bytesOverflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
            guard !bytesOverflow else {
                throw NeuralCoreError.malformedSafetensors(file: file, reason: "tensor '\(name)' shape \(shape) overflows")
            }
            guard end - begin == needed else {
                throw NeuralCoreError.malformedSafetensors(file: file, reason: "tensor '\(name)' occupies \(end - begin) bytes, shape \(shape) × \(dtype.rawValue) needs \(needed)")
            }
            entries[name] = Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
        }
        let sorted = entries.values.filter { $0.end > $0.begin }.sorted { $0.begin < $1.begin }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.begin < a.end {
            throw NeuralCoreError.malformedSafetensors(file: file, reason: "tensors '\(a.name)' and '\(b.name)' overlap")
        }
        self.entries = entries
        self.metadata = metadata
        self.data = data
        self.dataStart = 8 + n
    }

    /// An exact JSON integer: not a boolean, and not 1.5 or 1e300 (which `NSNumber.intValue`
    /// would silently truncate or turn into Int.min).
    private static func jsonInt(_ value: Any) -> Int? {
        guard let n = value as? NSNumber, String(cString: n.objCType) != "c" else { return nil }
        return value as? Int
    }

    public var names: [String] { entries.keys.sorted() }

    public func contains(_ name: String) -> Bool { entries[name] != nil }

    /// Reads a tensor as Float32 (F16 / BF16 widened), checking its shape.
    public func tensor(_ name: String, shape expected: [Int]) throws -> Tensor {
        let t = try tensor(name)
        guard t.shape == expected else {
            throw NeuralCoreError.shapeMismatch(file: fileName, tensor: name, expected: expected, found: t.shape)
        }
        return t
    }

    /// Reads a tensor as Float32 with whatever shape the file gives.
    public func tensor(_ name: String) throws -> Tensor {
        guard let e = entries[name] else { throw NeuralCoreError.missingTensor(file: fileName, tensor: name) }
        let count = e.shape.reduce(1, *)
        var values = [Float](repeating: 0, count: count)
        data.withUnsafeBytes { raw in
            let base = raw.baseAddress! + dataStart + e.begin
            values.withUnsafeMutableBufferPointer { out in
                switch e.dtype {
                case .f32:
                    // The data buffer need not be 4-byte aligned: copy bytes, never load in place.
                    memcpy(out.baseAddress!, base, count * 4)
                    #if _endian(big)
                    for i in 0..<count { out[i] = Float(bitPattern: UInt32(littleEndian: out[i].bitPattern)) }
                    #endif
                case .f16:
                    for i in 0..<count {
                        let bits = UInt16(base.load(fromByteOffset: 2 * i, as: UInt8.self))
                            | UInt16(base.load(fromByteOffset: 2 * i + 1, as: UInt8.self)) << 8
                        out[i] = Self.halfToFloat(bits)
                    }
                case .bf16:
                    for i in 0..<count {
                        let bits = UInt32(base.load(fromByteOffset: 2 * i, as: UInt8.self))
                            | UInt32(base.load(fromByteOffset: 2 * i + 1, as: UInt8.self)) << 8
                        out[i] = Float(bitPattern: bits << 16)
                    }
                }
            }
        }
        return Tensor(shape: e.shape, values: values)
    }

    /// IEEE 754 binary16 → binary32 (handles subnormals, Inf, NaN).
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exp = Int((h >> 10) & 0x1f)
        let mant = UInt32(h & 0x3ff)
        if exp == 0 {
            if mant == 0 { return Float(bitPattern: sign) }
            let v = Float(mant) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign != 0 ? -v : v
        }
        if exp == 31 { return Float(bitPattern: sign | 0x7f80_0000 | (mant << 13)) }
        return Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | (mant << 13))
    }
}

/// Several safetensors files seen as one weight source (a bundle may split its weights).
public struct WeightFiles: WeightSource {
    public let files: [SafeTensorsFile]
    public init(files: [SafeTensorsFile]) { self.files = files }

    public func contains(_ name: String) -> Bool { files.contains { $0.contains(name) } }

    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        guard let f = files.first(where: { $0.contains(name) }) else {
            throw NeuralCoreError.missingTensor(file: files.map { $0.url.lastPathComponent }.joined(separator: ", "), tensor: name)
        }
        let t = try f.tensor(name, shape: shape)
        guard t.isFinite else { throw NeuralCoreError.nonFiniteWeights(file: f.url.lastPathComponent, tensor: name) }
        return t
    }

    public var allNames: Set<String> { Set(files.flatMap { $0.names }) }
}
