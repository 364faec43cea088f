import Foundation
@testable import ReaderStudy

/// Paths and small builders shared by the study tests.
enum StudySupport {
    static let repoRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let sampleData = repoRoot.appendingPathComponent("sample-data")
    static let tinyBundle = repoRoot.appendingPathComponent("Tests/CardiacModelsTests/Fixtures/random-tiny")

    /// Single-file sample ECGs (they can be copied under any name).
    static let singleFileECGs = ["P06-rcm/ecg.csv", "P12-ischaemic-wma/ecg.csv", "P05-hcm/ecg-ukb.xml",
                                 "P04-dcm-heart-failure/ecg-muse.xml", "P02-anterior-mi/ecg-aecg.xml"]

    static func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("study-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Writes a definition JSON into `dir` and returns its URL.
    static func writeDefinition(_ json: [String: Any], in dir: URL, name: String = "study.json") throws -> URL {
        let url = dir.appendingPathComponent(name)
        try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted]).write(to: url)
        return url
    }

    static func definitionJSON(cases: [[String: Any]], stages: [[String: Any]]? = nil, model: [String: Any]? = nil,
                               subtypes: [String] = ["DCM", "HCM", "RCM"], seed: UInt64 = 42) -> [String: Any] {
        var j: [String: Any] = [
            "format": "ecg2cmr-study/1", "id": "test-study", "title": "Test study", "seed": seed,
            "questions": ["finding": "Cardiomyopathy present?", "subtypes": subtypes, "note": true],
            "roles": ["junior", "senior"],
            "stages": stages ?? [["id": "ecg-only", "title": "ECG only", "shows": ["traces"]],
                                 ["id": "ecg+real-cmr", "title": "ECG + real CMR", "shows": ["traces", "real-cmr"], "washoutDays": 28]],
            "cases": cases,
        ]
        if let model { j["model"] = model }
        return j
    }

    /// Cases over the single-file sample ECGs (absolute paths), with realCMR folders.
    static func sampleCases(count: Int) -> [[String: Any]] {
        var cases: [[String: Any]] = []
        for i in 0..<count {
            let ecg = singleFileECGs[i % singleFileECGs.count]
            let patient = String(ecg.split(separator: "/")[0])
            let truth: [String: Any] = i % 2 == 0 ? ["finding": true, "subtype": "HCM"] : ["finding": false]
            var c: [String: Any] = [:]
            c["id"] = "C\(i + 1)"
            c["ecg"] = sampleData.appendingPathComponent(ecg).path
            c["realCMR"] = sampleData.appendingPathComponent(patient).path
            c["truth"] = truth
            cases.append(c)
        }
        return cases
    }

    /// A mutable clock for wash-out tests.
    final class Clock { var now = Date(timeIntervalSince1970: 1_800_000_000) }

    static func makeStore(_ json: [String: Any], clock: Clock = Clock()) throws -> (StudyStore, URL) {
        let dir = try tempDir()
        let def = try StudyDefinition.load(from: try writeDefinition(json, in: dir))
        let store = try StudyStore.create(at: dir.appendingPathComponent("study.db").path, definition: def,
                                          definitionSource: "test", operatorName: "op", now: { clock.now })
        return (store, dir)
    }
}

/// A presenter that needs no files (for store/session logic tests).
struct OrdinalPresenter: CasePresenter {
    func present(caseID: String, stage: StudyDefinition.Stage, ordinal: Int, total: Int) throws -> BlindedCase {
        BlindedCase(ordinal: ordinal, total: total, stageTitle: stage.title, traces: nil, scores: nil, modelCaption: nil, cines: [])
    }
}
