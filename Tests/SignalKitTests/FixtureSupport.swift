import Foundation
import Testing

/// Reference vectors written by tools/signal-reference/make_fixtures.py (scipy / PyWavelets).
enum Fixtures {
    static let filters: [String: Any] = {
        guard let url = Bundle.module.url(forResource: "filters", withExtension: "json", subdirectory: "Fixtures"),
              let data = try? Data(contentsOf: url),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return object
    }()

    static func vector(_ key: String) -> [Double] {
        (filters[key] as? [Any])?.compactMap { ($0 as? NSNumber)?.doubleValue } ?? []
    }

    static func matrix(_ key: String) -> [[Double]] {
        (filters[key] as? [[Any]])?.map { $0.compactMap { ($0 as? NSNumber)?.doubleValue } } ?? []
    }

    static func floats(_ key: String) -> [Float] { vector(key).map { Float($0) } }

    static func data(_ name: String) -> Data? {
        guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures") else { return nil }
        return try? Data(contentsOf: url)
    }
}

/// Largest absolute difference; infinity when lengths differ (so a length bug fails loudly).
func maxAbsDiff(_ a: [Double], _ b: [Double]) -> Double {
    guard a.count == b.count, !a.isEmpty else { return .infinity }
    return zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
}

func maxAbsDiff(_ a: [Float], _ b: [Double]) -> Double { maxAbsDiff(a.map { Double($0) }, b) }
