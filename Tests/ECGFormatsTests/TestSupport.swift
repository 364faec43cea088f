import Foundation
import Testing
@testable import ECGFormats

/// Paths shared by the ECGFormats tests.
enum Paths {
    /// Repository root, from this file's location (Tests/ECGFormatsTests/TestSupport.swift).
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// Real PhysioNet and peer files, committed with their licences (tests/records/README.md).
    static let records = repo.appendingPathComponent("tests/records")
    static let sampleData = repo.appendingPathComponent("sample-data")

    static func fixture(_ relative: String) throws -> URL {
        let base = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return base.appendingPathComponent(relative)
    }

    static func tempDir(_ name: String = #function) throws -> URL {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ecgformats-\(safe)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

/// Reference values written by tools/fixtures/make_fixtures.py (wfdb / pydicom / plain decoding).
struct Reference {
    var sampleCount: Int
    var samplingRate: Double
    var indices: [Int]
    /// values[signal][j] is the physical value in mV at indices[j].
    var values: [[Float]]

    init(url: URL) throws {
        let data = try Data(contentsOf: url)
        let b = [UInt8](data)
        func u32(_ o: Int) -> Int { Int(UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24) }
        try #require(b.count >= 24 && b[0] == 0x45 && b[1] == 0x43 && b[2] == 0x47 && b[3] == 0x52)
        let nsig = u32(4)
        sampleCount = u32(8)
        var fsBits: UInt64 = 0
        for k in 0..<8 { fsBits |= UInt64(b[12 + k]) << (8 * UInt64(k)) }
        samplingRate = Double(bitPattern: fsBits)
        let m = u32(20)
        indices = (0..<m).map { u32(24 + 4 * $0) }
        let base = 24 + 4 * m
        try #require(b.count == base + 4 * m * nsig)
        values = (0..<nsig).map { s in
            (0..<m).map { j in Float(bitPattern: UInt32(u32(base + 4 * (s * m + j)))) }
        }
    }
}

struct ManifestEntry: Decodable {
    var reference: String
    var leads: [String]
    var samplingRate: Double
    var sampleCount: Int
    var source: String
}

struct Manifest: Decodable {
    var records: [String: ManifestEntry]

    static func load() throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: Paths.fixture("manifest.json")))
    }
}

/// Runs `body` and returns the ECGFormatError it throws (failing the test when it throws nothing or another type).
func expectFormatError(_ kind: ECGFormatError.Kind? = nil, file: String? = nil, sourceLocation: SourceLocation = #_sourceLocation,
                       _ body: () throws -> Any) -> ECGFormatError? {
    do {
        _ = try body()
        Issue.record("expected an ECGFormatError, nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as ECGFormatError {
        if let kind { #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation) }
        if let file { #expect(error.file == file, "error names \(error.file), expected \(file)", sourceLocation: sourceLocation) }
        #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected an ECGFormatError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
