import Foundation

/// A parity fixture of the out-of-distribution check's features (written by
/// training/make_ood_fixture.py): float32 inputs as base64, the R peaks and median beat the
/// features read, and the numbers training/ecg2cmr_train/ood.py computed from them.
struct OODFeatureFixture: Decodable {
    struct Case: Decodable {
        var name: String
        /// Lead names (the signal fixture; the lead fixture is always the 12 standard leads).
        var leads: [String]?
        var sampleCount: Int
        var values: String
        var peaks: [Int]
        var medianBeat: String
        var features: [Double]
    }
    var featureSet: String
    var featureNames: [String]
    var samplingRate: Double
    var preSamples: Int
    var postSamples: Int
    /// The lead fixture: the heart-vector subspace of the lead-gain-v2 statistics.
    var heartVectorBasis: [[Double]]?
    var cases: [Case]

    static func load(_ name: String) throws -> OODFeatureFixture {
        try JSONDecoder().decode(OODFeatureFixture.self, from: Data(contentsOf: fixtures.appendingPathComponent(name)))
    }

    /// Little-endian float32 values from base64.
    static func floats(_ base64: String) -> [Float] {
        guard let data = Data(base64Encoded: base64) else { return [] }
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }
}
