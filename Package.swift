// swift-tools-version:6.0
import PackageDescription

// Data flows left to right: formats → signal → models → views / exports / studies.
let package = Package(
    name: "ecg2cmr",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ecg2cmr", targets: ["ecg2cmr"]),
        // For the fuzz package in Fuzz/ (and other tools) to depend on the readers alone.
        .library(name: "ECGFormats", targets: ["ECGFormats"]),
        .library(name: "SignalKit", targets: ["SignalKit"]),
        // For the fuzz targets of the weights reader and the model-bundle loader.
        .library(name: "NeuralCore", targets: ["NeuralCore"]),
        .library(name: "CardiacModels", targets: ["CardiacModels"]),
        // For the fuzz targets of the trace view and `view --snapshot` (Fuzz/run-campaign.sh builds them).
        .library(name: "Workstation", targets: ["Workstation"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
    ],
    targets: [
        // System libraries (Debian: libncursesw5-dev, libopenblas-dev, libpng-dev, libcairo2-dev).
        .systemLibrary(name: "CNCursesW", pkgConfig: "ncursesw", providers: [.apt(["libncursesw5-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        // 2-D vector graphics: the PDF report and the anti-aliased PNG sheets (real fonts via fontconfig).
        .systemLibrary(name: "CCairo", pkgConfig: "cairo-ft", providers: [.apt(["libcairo2-dev", "libfreetype-dev"])]),

        .target(name: "ECGFormats", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "SignalKit", dependencies: ["ECGFormats"]),
        .target(name: "CVectorKernels"),
        // Built with Swift's checks (no -Ounchecked): it parses untrusted safetensors headers, and
        // the kernels lose nothing measurable (docs/PERFORMANCE.md, "Checked arithmetic").
        .target(name: "NeuralCore", dependencies: ["COpenBLAS", "CVectorKernels"]),
        // The leaf of small shared utilities (random streams, …): imports nothing of the project.
        .target(name: "CommonKit"),
        .target(name: "CardiacModels", dependencies: ["NeuralCore", "SignalKit", "ECGFormats", "CommonKit",
                                                      .product(name: "Crypto", package: "swift-crypto")]),
        // The use-case layer: record → CaseResult (prepared input, scores, Grad-CAM, generated CMR).
        // The front ends below import it, never CardiacModels.
        .target(name: "CaseAnalysis", dependencies: ["CardiacModels", "ECGFormats"]),
        // The imaging leaf: PNG codec, images, resampling, ECG paper, cine layouts, fonts, cairo
        // canvas, durable file writes. No model: views and studies that only draw import this.
        .target(name: "Imaging", dependencies: ["CPNG", "CCairo", "ECGFormats", .product(name: "Crypto", package: "swift-crypto")]),
        // Writers that run the model for a case: case export, manifest, PDF report, DICOM cines.
        .target(name: "CMRExport", dependencies: ["CaseAnalysis", "Imaging", "ECGFormats", "SignalKit", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "ReaderStudy", dependencies: ["ECGFormats", "CommonKit", "CaseAnalysis", "Imaging", .product(name: "GRDB", package: "GRDB.swift")]),
        .target(name: "Screening", dependencies: ["ECGFormats", "SignalKit", "CaseAnalysis", "Imaging", "CMRExport",
                                                 .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "Workstation", dependencies: ["CNCursesW", "ECGFormats", "SignalKit",
                                                    "CaseAnalysis", "Imaging", "CMRExport", "ReaderStudy", "Screening"]),
        .executableTarget(name: "ecg2cmr", dependencies: [
            "ECGFormats", "SignalKit", "NeuralCore", "CardiacModels", "CaseAnalysis", "Imaging", "CMRExport", "ReaderStudy", "Screening", "Workstation",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .executableTarget(name: "wfdb-read-bench", dependencies: ["ECGFormats"], path: "benchmarks/wfdb-read/Sources"),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "ECGFormatsTests", dependencies: ["ECGFormats"], resources: [.copy("Fixtures")]),
        .testTarget(name: "SignalKitTests", dependencies: ["TestSupport", "SignalKit", "ECGFormats"], resources: [.copy("Fixtures")]),
        .testTarget(name: "NeuralCoreTests", dependencies: ["NeuralCore"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CardiacModelsTests", dependencies: ["TestSupport", "CardiacModels", "NeuralCore", "ECGFormats"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CaseAnalysisTests", dependencies: ["TestSupport", "CaseAnalysis", "CardiacModels", "ECGFormats"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "ECGFormats"]),
        .testTarget(name: "CMRExportTests", dependencies: ["TestSupport", "CMRExport", "CaseAnalysis", "Imaging", "ECGFormats", "SignalKit", "CardiacModels"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ReaderStudyTests", dependencies: ["ReaderStudy", "CaseAnalysis", "Workstation", "CardiacModels", "ECGFormats", .product(name: "GRDB", package: "GRDB.swift")], resources: [.copy("Fixtures")]),
        .testTarget(name: "ScreeningTests", dependencies: ["TestSupport", "Screening", "CaseAnalysis", "CardiacModels", "ECGFormats"]),
        .testTarget(name: "WorkstationTests", dependencies: ["Workstation", "CaseAnalysis", "CMRExport", "Imaging", "ECGFormats", "CardiacModels"], resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v5]
)
