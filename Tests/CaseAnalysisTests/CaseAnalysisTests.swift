import CardiacModels
import ECGFormats
import Foundation
import TestSupport
import Testing
@testable import CaseAnalysis

/// The use case on its own: one record through `CaseAnalysis` with the committed tiny random bundle
/// (Tests/CMRExportTests/Fixtures/bundle-tiny: 20 frames, risk heads cad, hf, cm, …) and a real
/// 12-lead record (tests/records/cinc2021/E07500). What the front ends rely on: `run` gives
/// everything, `complete` never runs the encoder again, errors are typed, one bundle locator.
@Suite struct CaseAnalysisTests {
    static let bundleURL = TestEnvironment.repositoryRoot.appendingPathComponent("Tests/CMRExportTests/Fixtures/bundle-tiny")
    static let recordURL = TestEnvironment.records.appendingPathComponent("cinc2021/E07500.hea")

    static func loaded() throws -> (CaseAnalysis, ECGRecord) {
        (try CaseAnalysis.load(bundleAt: bundleURL), try ECGFileReader.read(url: recordURL))
    }

    /// Grad-CAM by default: the highest-probability flagged (high band) risk whose head is not weak;
    /// none when nothing is flagged — then `complete` leaves the case without a map.
    @Test func defaultGradCAMIsTheSurestFlaggedFindingOrNone() throws {
        let (cases, record) = try Self.loaded()
        let base = try cases.analyse(record)
        var a = base.analysis
        #expect(a.risks.count >= 3)
        for i in a.risks.indices { a.risks[i].band = .low; a.risks[i].isWeak = false }
        #expect(CaseAnalysis.defaultGradCAMTarget(a) == nil)
        var plain = base; plain.analysis = a
        #expect(try cases.complete(plain, options: CaseOptions(seed: 1)).gradCAM == nil)
        a.risks[0].band = .high; a.risks[0].probability = 0.7
        a.risks[1].band = .high; a.risks[1].probability = 0.9; a.risks[1].isWeak = true   // weak: never the default
        a.risks[2].band = .high; a.risks[2].probability = 0.8
        #expect(CaseAnalysis.defaultGradCAMTarget(a) == a.risks[2].target)
        // Asked for by name, any head is drawn, flagged or not.
        #expect(try cases.gradCAMTarget(a.risks[0].target.description, analysis: a) == a.risks[0].target)
    }

    @Test func runGivesScoresTheDefaultGradCAMAndCinesOfTheSeed() throws {
        let (cases, record) = try Self.loaded()
        let result = try cases.run(record, options: CaseOptions(seed: 7))
        #expect(result.modelID == "random-tiny" && result.record.provenance.sha256 == record.provenance.sha256)
        #expect(!result.analysis.risks.isEmpty)
        let expected = try #require(CaseAnalysis.defaultGradCAMTarget(result.analysis), "the tiny bundle flags a risk on E07500")
        #expect(result.gradCAM?.target == expected)
        #expect(result.cmr?.seed == 7)
        #expect(result.frameCount == 20, "the generator's own count (manifest generator.frames)")
        #expect(cases.pipeline.runCounts == ModelRunCounts(analyses: 1, gradCAMPasses: 1, generations: 1))

        // Same seed, same frames; the frame count is the one asked for.
        let again = try cases.run(record, options: CaseOptions(seed: 7, frameCount: 8))
        #expect(again.frameCount == 8)
        #expect(again.analysis.risks.map(\.probability) == result.analysis.risks.map(\.probability))
        let shortAgain = try cases.run(record, options: CaseOptions(seed: 7, frameCount: 8))
        #expect(shortAgain.cmr?.sax.frames == again.cmr?.sax.frames)
    }

    @Test func completeAddsOnlyWhatIsMissing() throws {
        let (cases, record) = try Self.loaded()
        let full = try cases.run(record, options: CaseOptions(seed: 3, gradCAMTarget: "risk.cad"))
        let before = cases.pipeline.runCounts
        // Everything there: nothing runs.
        _ = try cases.complete(full, options: CaseOptions(seed: 3, gradCAMTarget: "risk.cad"))
        #expect(cases.pipeline.runCounts == before)
        // Another head and another seed: one Grad-CAM and one generation, never the encoder.
        let other = try cases.complete(full, options: CaseOptions(seed: 4, gradCAMTarget: "risk.hf"))
        #expect(other.gradCAM?.target == HeadTarget(head: "risk", output: "hf") && other.cmr?.seed == 4)
        #expect(cases.pipeline.runCounts == ModelRunCounts(analyses: before.analyses, gradCAMPasses: before.gradCAMPasses + 1,
                                                           generations: before.generations + 1))
    }

    /// The parts are what the front ends ask for: a screen line or a study score runs the encoder
    /// alone; the workstation completes the Grad-CAM and the cines one at a time.
    @Test func partsComputeOnlyWhatIsAskedFor() throws {
        let (cases, record) = try Self.loaded()
        let scores = try cases.run(record, options: CaseOptions(seed: 5, parts: .findings))
        #expect(scores.gradCAM == nil && scores.cmr == nil && !scores.analysis.risks.isEmpty)
        #expect(cases.pipeline.runCounts == ModelRunCounts(analyses: 1, gradCAMPasses: 0, generations: 0))
        let withCines = try cases.complete(scores, options: CaseOptions(seed: 5, gradCAMTarget: "risk.cad", parts: .cmr))
        #expect(withCines.gradCAM == nil && withCines.cmr?.seed == 5)
        let withMap = try cases.complete(withCines, options: CaseOptions(seed: 99, gradCAMTarget: "risk.cad", parts: .gradCAM))
        #expect(withMap.gradCAM?.target == HeadTarget(head: "risk", output: "cad") && withMap.cmr?.seed == 5, "the cines are kept")
        #expect(cases.pipeline.runCounts == ModelRunCounts(analyses: 1, gradCAMPasses: 1, generations: 1))
        // Step by step gives the bits of one full run.
        let full = try cases.run(record, options: CaseOptions(seed: 5, gradCAMTarget: "risk.cad"))
        #expect(full.cmr?.sax.frames == withMap.cmr?.sax.frames && full.gradCAM?.values == withMap.gradCAM?.values)
    }

    /// `run(batch:)` (screening) gives each case the scores `run` gives it alone.
    @Test func aBatchRunGivesTheScoresOfSingleRuns() throws {
        let (cases, record) = try Self.loaded()
        let prepared = try cases.prepare(record)
        let batch = cases.run(batch: [(record, prepared), (record, prepared)], options: CaseOptions(parts: .findings))
        let single = try cases.run(record, options: CaseOptions(parts: .findings))
        #expect(batch.count == 2)
        for outcome in batch {
            let r = try outcome.get()
            #expect(r.cmr == nil && r.gradCAM == nil)
            #expect(r.analysis.risks.map(\.probability) == single.analysis.risks.map(\.probability))
        }
    }

    @Test func anUnknownHeadIsATypedErrorNamingTheHeadsThereAre() throws {
        let (cases, record) = try Self.loaded()
        #expect {
            try cases.run(record, options: CaseOptions(gradCAMTarget: "risk.nonexistent"))
        } throws: { error in
            guard case let CaseAnalysisError.unknownHead(modelID, requested, available)? = error as? CaseAnalysisError else { return false }
            return modelID == "random-tiny" && requested == "risk.nonexistent" && available.contains("risk.cad")
        }
    }

    @Test func aRecordTheModelCannotReadIsAPreparationErrorNamingTheFile() throws {
        let (cases, record) = try Self.loaded()
        // Lead I alone: the bundle wants twelve leads and cannot derive them from one.
        var partial = record
        partial.leads = Array(record.leads.prefix(1))
        #expect {
            try cases.analyse(partial)
        } throws: { error in
            guard case let CaseAnalysisError.preparation(path, reason)? = error as? CaseAnalysisError else { return false }
            return path == record.provenance.path && !reason.isEmpty
        }
    }

    @Test func theModelIdentityIsTheBundlesAndTheLocatorTakesTheNamedFolderFirst() throws {
        let cases = try CaseAnalysis.load(bundleAt: Self.bundleURL)
        let bundle = try ModelBundle.load(from: Self.bundleURL)
        #expect(cases.model.id == bundle.id && cases.model.weightsSHA256 == bundle.weightsSHA256)
        #expect(cases.model.isSynthetic && cases.model.disclaimer == bundle.disclaimer)
        #expect(cases.model.headTargets == bundle.headTargets && cases.model.directory == bundle.directory)
        #expect(CaseAnalysis.locateBundle(Self.bundleURL) == Self.bundleURL)
        // A folder that is not a bundle: the loader's typed error, not a crash.
        #expect(throws: ModelBundleError.self) { try CaseAnalysis.load(bundleAt: TestEnvironment.records) }
    }

    /// Issue 23: a missing sample is a gap, never a value the encoder reads. A gap in a lead the
    /// model reads makes the model not apply, with the gap in the reason (the record is still
    /// measured and drawn); a gap in I or II counts for the leads derived from them too.
    @Test func aGapInAnInputLeadMakesTheModelNotApplyAndSaysWhere() throws {
        let (cases, record) = try Self.loaded()
        #expect(cases.notApplicableReason(record) == nil)
        func withGap(_ lead: LeadID) throws -> ECGRecord {
            var r = record
            let k = try #require(r.leads.firstIndex { $0.id == lead && !$0.isDerived })
            for t in 2000..<2200 { r.leads[k].millivolts[t] = .nan }
            return r
        }
        #expect(cases.notApplicableReason(try withGap(.v2))
                == "the model needs every sample of its input leads; this record has a 0.40 s gap in V2 at 4.00 s")
        let reasonII = try #require(cases.notApplicableReason(try withGap(.ii)))
        #expect(reasonII.hasSuffix("a 0.40 s gap in II at 4.00 s"))
        // A model of I, II, V1–V6 (the demo's leads) derives III, aVR, aVL, aVF from I and II: a gap
        // in E07500's stored aVR is not in its input, a gap in II is (II and the leads from it).
        let eight: [LeadID] = [.i, .ii, .v1, .v2, .v3, .v4, .v5, .v6]
        #expect(ModelApplicability.reason(record: try withGap(.aVR), modelLeads: eight) == nil)
        #expect(ModelApplicability.reason(record: try withGap(.ii), modelLeads: eight)?.hasSuffix("a 0.40 s gap in II at 4.00 s") == true)
    }
}
