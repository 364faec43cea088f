import Foundation
import Testing
@testable import ECGFormats

@Suite struct LeadAliasTests {
    @Test func holterAndEuropeanSpellingsNameTheStandardLeads() {
        for (raw, id) in [("MLII", LeadID.ii), ("ML2", .ii), ("ML II", .ii), ("Lead II", .ii), ("II", .ii), ("mlii", .ii),
                          ("MLI", .i), ("MLIII", .iii), ("DI", .i), ("DII", .ii), ("D3", .iii), ("MV5", .v5), ("V5", .v5),
                          ("MDC_ECG_LEAD_AVF", .aVF), ("lead_v1", .v1)] {
            #expect(LeadID(parsing: raw) == id, "\(raw)")
        }
    }

    @Test func franksAndOtherLeadsKeepTheirNames() {
        for raw in ["X", "Y", "Z", "vx", "vy", "vz", "V3R", "ECG1", "MV7", "ML", "D", "DV5"] {
            #expect(LeadID(parsing: raw) == .other(raw), "\(raw)")
        }
    }
}

@Suite struct WFDBAnnotationTests {
    /// MIT-BIH 100's reference labels: 2273 beats (2239 N, 33 A, 1 V), the same sample positions
    /// as wfdb-python's `rdann` (the SignalKit fixture 100-atr-beats.json was written from it).
    @Test func mitBih100AnnotationsMatchTheReference() throws {
        let url = Paths.records.appendingPathComponent("100.atr")
        let annotations = try WFDBAnnotationReader.read(url: url)
        let beats = annotations.filter(\.isBeat)
        #expect(beats.count == 2273)
        #expect(beats.filter { $0.symbol == "N" }.count == 2239)
        #expect(beats.filter { $0.symbol == "A" }.count == 33)
        #expect(beats.filter { $0.symbol == "V" }.count == 1)
        let reference = Paths.repo.appendingPathComponent("Tests/SignalKitTests/Fixtures/100-atr-beats.json")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: reference)) as? [String: Any])
        let samples = try #require(json["beats"] as? [Int])
        #expect(beats.map(\.sample) == samples)
        // The first annotation is the rhythm label "(N" at sample 18.
        #expect(annotations.first?.symbol == "+")
        #expect(annotations.first?.aux == "(N")
        #expect(WFDBAnnotationReader.companion(of: Paths.records.appendingPathComponent("100.hea")) == url)
    }

    @Test func skipNumAndAuxAreDecoded() throws {
        func word(_ code: Int, _ value: Int) -> [UInt8] { let w = code << 10 | value; return [UInt8(w & 0xFF), UInt8(w >> 8)] }
        var bytes: [UInt8] = []
        bytes += word(59, 0) + [0x01, 0x00, 0x00, 0x00]  // SKIP 65 536 (high word 1, low word 0)
        bytes += word(1, 10)                              // N at 65 546
        bytes += word(28, 5) + word(63, 3) + Array("(VT".utf8) + [0]  // + with aux "(VT", padded
        bytes += word(61, 2) + word(5, 100)              // SUB 2, then V
        bytes += word(0, 0)
        let a = try WFDBAnnotationReader.parse(Data(bytes), file: "t.atr")
        #expect(a.map(\.sample) == [65_546, 65_551, 65_651])
        #expect(a.map(\.symbol) == ["N", "+", "V"])
        #expect(a[1].aux == "(VT")
        #expect(a[2].subtype == 2 && a[0].subtype == 0)
    }

    @Test func truncatedEscapesAreTypedErrors() {
        let skip: [UInt8] = [0x00, 59 << 2, 0x01]
        #expect(throws: ECGFormatError.self) { try WFDBAnnotationReader.parse(Data(skip), file: "t.atr") }
        let aux: [UInt8] = [0x10, 63 << 2, 0x41]
        #expect(throws: ECGFormatError.self) { try WFDBAnnotationReader.parse(Data(aux), file: "t.atr") }
    }
}

@Suite struct InfoTextTests {
    @Test func longMetadataKeysAreNeverCut() {
        let lead = Lead(id: .ii, millivolts: [Float](repeating: 0, count: 500))
        let record = ECGRecord(leads: [lead], samplingRate: 500,
                               metadata: ECGMetadata(extra: ["AcquisitionSoftwareVersion": "12SL v241", "Dx": "426783006"]),
                               provenance: Provenance(format: .csv, path: "/x.csv", sha256: String(repeating: "0", count: 64)))
        let lines = RecordSummary(record: record).text().split(separator: "\n").map(String.init)
        let i = lines.firstIndex(of: "AcquisitionSoftwareVersion")
        #expect(i != nil && lines[(i ?? 0) + 1].hasSuffix("12SL v241"))
        #expect(lines.contains { $0.hasPrefix("Dx ") && $0.hasSuffix("426783006") })
        #expect(!lines.contains { $0.contains("…") })
    }
}
