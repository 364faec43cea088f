import Foundation

/// Where the tests find the repository and its real records, and whether the Python
/// reference tools run here: one copy for every test target (tests that need Python are disabled
/// with `.enabled(if:)` and the reason when it is missing).
public enum TestEnvironment {
    /// The repository root (this file is Tests/TestSupport/TestEnvironment.swift).
    public static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// `tests/records` in the repository (real CinC, PTB, MIT-BIH … records with their licences in
    /// its README): a clone passes its tests with nothing beside it.
    public static let records = repositoryRoot.appendingPathComponent("tests/records")

    /// True when `python3` can import every module named, e.g. "torch, timm, safetensors".
    public static func pythonCanImport(_ modules: String) -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import \(modules)"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }
}
