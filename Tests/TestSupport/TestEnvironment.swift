import Foundation

/// Where the tests find the repository and the shared real records, and whether the Python
/// reference tools run here: one copy for every test target (tests that need Python are disabled
/// with `.enabled(if:)` and the reason when it is missing).
public enum TestEnvironment {
    /// The repository root (this file is Tests/TestSupport/TestEnvironment.swift).
    public static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared/ecg-records` beside the repository (real CinC, PTB, MIT-BIH … records).
    public static let sharedRecords = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/ecg-records")

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
