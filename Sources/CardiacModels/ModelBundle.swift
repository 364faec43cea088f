import CommonKit
import ECGFormats
import Foundation
import NeuralCore
import SignalKit

/// Why a bundle could not be loaded. Every case names the file, and the tensor where there is one.
public enum ModelBundleError: Error, CustomStringConvertible, Equatable {
    case missingManifest(directory: String)
    case invalidManifest(file: String, reason: String)
    case unsupportedFormatVersion(file: String, version: Int)
    case missingWeightsFile(file: String)
    case checksumMismatch(file: String, expected: String, found: String)
    case weights(NeuralCoreError)

    public var description: String {
        switch self {
        case .missingManifest(let d): return "\(d): no manifest.json (not a model bundle)"
        case let .invalidManifest(f, r): return "\(f): \(r)"
        case let .unsupportedFormatVersion(f, v): return "\(f): formatVersion \(v) is not supported (this engine reads 1)"
        case .missingWeightsFile(let f): return "\(f): weights file named in the manifest does not exist"
        case let .checksumMismatch(f, e, s): return "\(f): SHA-256 \(s) does not match the manifest's \(e) (corrupt or replaced file)"
        case .weights(let e): return e.description
        }
    }
}

/// A model bundle: manifest + weights, fully validated and built into runnable layers at load.
public struct ModelBundle: Sendable {
    public let manifest: ModelManifest
    public let directory: URL
    /// Hex SHA-256 of the weights (of the first file; files joined by "+" when several).
    public let weightsSHA256: String
    let encoder: ViTEncoder
    let generator: CMRGeneratorModel?
    let outOfDistribution: OutOfDistributionModel?
    let preprocessing: SignalPipeline

    public var id: String { manifest.id }
    public var displayName: String { manifest.displayName ?? manifest.id }
    public var isSynthetic: Bool { manifest.synthetic ?? false }
    /// Free text from the bundle, shown on terminals and in reports: neutralised once, here.
    public var disclaimer: String { TerminalText.sanitize(manifest.disclaimer ?? "") }
    public var hasGenerator: Bool { generator != nil }
    public var headTargets: [HeadTarget] {
        manifest.heads.flatMap { h in h.outputs.map { HeadTarget(head: h.name, output: $0.id) } }
    }

    public static func load(from directory: URL) throws -> ModelBundle {
        let manifestURL = directory.appendingPathComponent("manifest.json")
        guard let regular = Self.isRegularFile(manifestURL.path) else {
            throw ModelBundleError.missingManifest(directory: directory.path)
        }
        guard regular else { throw ModelBundleError.invalidManifest(file: manifestURL.path, reason: "not a regular file") }
        // Size from stat, so that a huge file (or one swapped for a disk image) is never read whole.
        if let size = Self.fileSize(manifestURL.path), size > ModelManifest.maxManifestBytes {
            throw ModelBundleError.invalidManifest(file: manifestURL.path,
                                                   reason: "larger than \(ModelManifest.maxManifestBytes >> 20) MB (not a model manifest)")
        }
        let data: Data
        do { data = try Data(contentsOf: manifestURL) } catch {
            throw ModelBundleError.invalidManifest(file: manifestURL.path, reason: error.localizedDescription)
        }
        return try load(manifestData: data, directory: directory)
    }

    /// Loads a bundle whose `manifest.json` bytes are already in memory (the weights are still
    /// read from `directory`); errors name `directory/manifest.json`.
    public static func load(manifestData: Data, directory: URL) throws -> ModelBundle {
        let mpath = directory.appendingPathComponent("manifest.json").path
        let manifest = try ModelManifest.decode(manifestData, path: mpath)
        try manifest.validate(path: mpath)
        var files: [SafeTensorsFile] = []
        var digests: [String] = []
        for w in manifest.weights {
            let url = directory.appendingPathComponent(w.file)
            guard let regular = Self.isRegularFile(url.path) else { throw ModelBundleError.missingWeightsFile(file: url.path) }
            // Reading a FIFO or a device would block or never end; a directory cannot be mapped.
            guard regular else {
                throw ModelBundleError.weights(.fileUnreadable(file: url.lastPathComponent, reason: "not a regular file"))
            }
            let f: SafeTensorsFile
            do { f = try SafeTensorsFile(url: url) } catch let e as NeuralCoreError { throw ModelBundleError.weights(e) }
            let digest = try Self.sha256(of: url)
            if let expected = w.sha256, expected.lowercased() != digest {
                throw ModelBundleError.checksumMismatch(file: url.path, expected: expected, found: digest)
            }
            files.append(f)
            digests.append(digest)
        }
        // Validated with the manifest above: every op's parameters, the rates and the final length.
        let preprocessing = SignalPipeline(ops: manifest.input.preprocessing)
        let source = WeightFiles(files: files)
        do {
            let encoder = try ViTEncoder(manifest: manifest, weights: source, manifestPath: mpath)
            let generator = try manifest.generator.map {
                try CMRGeneratorModel(spec: $0, conditionSize: encoder.embeddingSize, heads: manifest.heads, weights: source,
                                      manifestPath: mpath)
            }
            let ood = try manifest.outOfDistribution.map {
                try OutOfDistributionModel(spec: $0, encoder: encoder, weights: source, manifestPath: mpath)
            }
            return ModelBundle(manifest: manifest, directory: directory, weightsSHA256: digests.joined(separator: "+"),
                               encoder: encoder, generator: generator, outOfDistribution: ood, preprocessing: preprocessing)
        } catch let e as NeuralCoreError {
            throw ModelBundleError.weights(e)
        }
    }

    /// The bundle the workstation opens when none is named.
    public static let defaultBundlePath = "assets/models/demo-v2"

    /// `$ECG2CMR_MODEL`, else `assets/models/demo-v2` found walking up from the working directory,
    /// then from the executable's directory.
    public static func locateDefault() -> URL? {
        if let env = ProcessInfo.processInfo.environment["ECG2CMR_MODEL"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return ResourceLocator.find(defaultBundlePath) {
            FileManager.default.fileExists(atPath: $0.appendingPathComponent("manifest.json").path)
        }
    }

    /// nil when nothing is at `path`; symbolic links are followed (bundles may link shared weights).
    static func isRegularFile(_ path: String) -> Bool? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (st.st_mode & S_IFMT) == S_IFREG
    }

    static func fileSize(_ path: String) -> Int? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int(st.st_size)
    }

    static func sha256(of url: URL) throws -> String {
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw ModelBundleError.missingWeightsFile(file: url.path)
        }
        return SHA256Hex.of(data)
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: return "an integer"
        case is Double.Type: return "a number"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default: return type is any Collection.Type ? "a list" : "an object"
        }
    }

    static func describe(_ e: DecodingError) -> String {
        func path(_ c: [CodingKey]) -> String { c.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") }
        switch e {
        case .keyNotFound(let k, let ctx): return "missing key '\(path(ctx.codingPath + [k]))'"
        // Foundation's descriptions quote the offending number ("Parsed JSON number <…> does not fit
        // in Int"): name the key and the expected type instead of echoing the file's bytes.
        case .typeMismatch(let type, let ctx): return "wrong type at '\(path(ctx.codingPath))' (expected \(typeName(type)))"
        case .valueNotFound(_, let ctx): return "missing value at '\(path(ctx.codingPath))'"
        case .dataCorrupted(let ctx) where !ctx.codingPath.isEmpty:
            return "value at '\(path(ctx.codingPath))' is out of range or malformed"
        case .dataCorrupted: return "not valid JSON"
        @unknown default: return "\(e)"
        }
    }
}
