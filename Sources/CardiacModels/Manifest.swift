import Foundation

/// Any JSON value (preprocessing op parameters are free-form dictionaries).
public enum JSONValue: Codable, Sendable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n): try c.encode(n)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// Plain Foundation value (for APIs taking `[String: Any]`).
    public var foundationValue: Any {
        switch self {
        case .null: return NSNull()
        case .bool(let b): return b
        case .number(let n): return n
        case .string(let s): return s
        case .array(let a): return a.map { $0.foundationValue }
        case .object(let o): return o.mapValues { $0.foundationValue }
        }
    }
}

/// `manifest.json` of a model bundle (docs/model-bundle.md). Unknown keys are ignored.
public struct ModelManifest: Codable, Sendable {
    public struct WeightsFile: Codable, Sendable { public var file: String; public var sha256: String? }

    public struct InputSpec: Codable, Sendable {
        public var leads: [String]
        public var samplingRate: Double
        public var sampleCount: Int
        public var preprocessing: [JSONValue]
    }

    public struct EncoderSpec: Codable, Sendable {
        public var type: String
        public var patchSize: Int
        public var width: Int
        public var depth: Int
        public var heads: Int
        public var mlpRatio: Double
        public var layerNormEps: Double?
        public var projectionDim: Int?
        public var pooling: String?
    }

    public struct GradCAMSpec: Codable, Sendable { public var layer: String }

    public enum HeadKind: String, Codable, Sendable { case sigmoid, softmax, regression }

    public struct HeadOutputSpec: Codable, Sendable {
        public var id: String
        public var label: String
        public var validationAUC: Double?
        public var weak: Bool?
        public var bands: [Double]?
        public var unit: String?
        public var mean: Double?
        public var std: Double?
        public var referenceRange: [Double]?
        public var validationR: Double?
    }

    public struct HeadSpec: Codable, Sendable {
        public var name: String
        public var kind: HeadKind
        public var outputs: [HeadOutputSpec]
    }

    public struct ViewSpec: Codable, Sendable {
        public var name: String
        public var size: Int
        public var baseSize: Int
        public var channels: [Int]
    }

    public struct PriorSpec: Codable, Sendable {
        public var layers: Int
        public var hidden: Int
        public var timeEmbedding: Int
    }

    public struct DiffusionSpec: Codable, Sendable {
        public var steps: Int
        public var betaStart: Double
        public var betaEnd: Double
        public var samplingSteps: Int
    }

    public struct GeneratorSpec: Codable, Sendable {
        public var latentSize: Int
        public var views: [ViewSpec]
        public var prior: PriorSpec
        public var diffusion: DiffusionSpec
        public var frames: Int
    }

    public var formatVersion: Int
    public var id: String
    public var displayName: String?
    public var synthetic: Bool?
    public var disclaimer: String?
    public var weights: [WeightsFile]
    public var input: InputSpec
    public var encoder: EncoderSpec
    public var gradcam: GradCAMSpec?
    public var heads: [HeadSpec]
    public var generator: GeneratorSpec?
}
