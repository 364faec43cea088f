// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets, one per ECG reader, plus the weights reader, the model-bundle loader,
// SignalKit's preprocessing fed reader-shaped records, the three writers (with read-back), the
// TUI's trace view, and `view --snapshot` on a file of any format.
// Built only with fuzzer flags (see docs/reliability.md):
//   swift build -c debug --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
let readers = ["WFDB", "CSV", "AECG", "DICOM", "MUSE", "UKB", "SCP", "Detect"]

let package = Package(
    name: "ECGFormatsFuzz",
    dependencies: [.package(name: "ecg2cmr", path: "..")],
    targets: readers.map { name in
        .executableTarget(name: "fuzz-\(name.lowercased())",
                          dependencies: [.product(name: "ECGFormats", package: "ecg2cmr")],
                          path: "Sources/\(name)")
    } + [
        .executableTarget(name: "fuzz-safetensors",
                          dependencies: [.product(name: "NeuralCore", package: "ecg2cmr")],
                          path: "Sources/SafeTensors"),
        .executableTarget(name: "fuzz-manifest",
                          dependencies: [.product(name: "CardiacModels", package: "ecg2cmr")],
                          path: "Sources/Manifest"),
        .executableTarget(name: "fuzz-preprocess",
                          dependencies: [.product(name: "SignalKit", package: "ecg2cmr")],
                          path: "Sources/Preprocess"),
        .executableTarget(name: "fuzz-writers",
                          dependencies: [.product(name: "ECGFormats", package: "ecg2cmr")],
                          path: "Sources/Writers"),
        .executableTarget(name: "fuzz-traceview",
                          dependencies: [.product(name: "ECGFormats", package: "ecg2cmr"),
                                         .product(name: "Workstation", package: "ecg2cmr")],
                          path: "Sources/TraceView"),
        .executableTarget(name: "fuzz-snapshot",
                          dependencies: [.product(name: "Workstation", package: "ecg2cmr")],
                          path: "Sources/Snapshot"),
    ],
    swiftLanguageModes: [.v5]
)
