import CardiacModels
import Foundation

// What the front ends may know of the model — who it is, and the value types of what it says —
// without seeing how it runs. Views, exports, screening and studies import CaseAnalysis, never
// CardiacModels: a change inside the engine (layers, bundle loading, the pipeline) cannot reach them.

// The scores of one case (risks with their weak flag and band, subtypes, phenotypes).
public typealias ECGAnalysis = CardiacModels.ECGAnalysis
public typealias RiskScore = CardiacModels.RiskScore
public typealias RiskBand = CardiacModels.RiskBand
public typealias SubtypeScore = CardiacModels.SubtypeScore
public typealias PhenotypeValue = CardiacModels.PhenotypeValue

// What the model read and where it looked: its input window, a head, the Grad-CAM on the record.
public typealias PreparedECG = CardiacModels.PreparedECG
public typealias HeadTarget = CardiacModels.HeadTarget
public typealias GradCAMMap = CardiacModels.GradCAMMap
public typealias GradCAMSegment = CardiacModels.GradCAMSegment

// What it drew, and whether the record is like what it was trained on.
public typealias GeneratedCMR = CardiacModels.GeneratedCMR
public typealias CineLoop = CardiacModels.CineLoop
public typealias OutOfDistributionVerdict = CardiacModels.OutOfDistributionVerdict
/// The generated heart's anatomy: the printed point estimate, or a draw within the 80 % intervals.
public typealias AnatomyMode = CardiacModels.AnatomyMode
/// The generator's informativeness check (manifest `generator.informativeness`).
public typealias GeneratorInformativeness = CardiacModels.ModelManifest.InformativenessSpec
/// The model's input window (leads, rate, length) as its manifest states it.
public typealias ModelInputSpec = CardiacModels.ModelManifest.InputSpec

/// The model a `CaseAnalysis` runs, as the front ends show and record it.
public struct ModelIdentity: Sendable {
    public var id: String
    public var displayName: String
    /// Trained on a synthetic cohort: a demonstration model, and every output says so.
    public var isSynthetic: Bool
    public var disclaimer: String
    /// SHA-256 of the weights file(s), `+`-joined: what an export or a study score cache records.
    public var weightsSHA256: String
    /// The bundle folder it was loaded from.
    public var directory: URL
    public var formatVersion: Int
    /// Every "head.output" the model has (Grad-CAM targets, study score targets).
    public var headTargets: [HeadTarget]
    public var input: ModelInputSpec
    public var generatorInformativeness: GeneratorInformativeness?

    /// How every output names a model trained on a synthetic cohort (image headers, PNG and DICOM
    /// text, the report, the terminal): one wording.
    public static let syntheticNote = "synthetic demonstration model"
    /// The same as a warning (report header, terminal notes).
    public static let syntheticWarning = syntheticNote + " — not for clinical use"

    init(_ b: ModelBundle) {
        id = b.id; displayName = b.displayName; isSynthetic = b.isSynthetic; disclaimer = b.disclaimer
        weightsSHA256 = b.weightsSHA256; directory = b.directory; formatVersion = b.manifest.formatVersion
        headTargets = b.headTargets; input = b.manifest.input
        generatorInformativeness = b.manifest.generator?.informativeness
    }
}

extension CaseAnalysis {
    /// Where the bundle lives when none is named: its path relative to the repository or the binary.
    public static let defaultBundlePath = ModelBundle.defaultBundlePath

    /// The one bundle locator of every command and the workstation: the folder named (`--model`, a
    /// study definition's bundle), else `$ECG2CMR_MODEL`, else `assets/models/demo-v2` found walking up
    /// from the working directory, then from the executable. nil: none found.
    public static func locateBundle(_ named: URL? = nil) -> URL? {
        named ?? ModelBundle.locateDefault()
    }

    /// Loads the bundle at `directory` (every weights file hashed, the manifest checked) and builds
    /// the analysis that runs it: the one CaseAnalysis a command hands to its front end.
    public static func load(bundleAt directory: URL) throws -> CaseAnalysis {
        CaseAnalysis(pipeline: try CardiacPipeline(bundle: try ModelBundle.load(from: directory)))
    }
}
