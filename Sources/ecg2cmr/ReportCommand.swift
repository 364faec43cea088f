import ArgumentParser
import CMRExport
import CaseAnalysis
import ECGFormats
import Foundation
import Imaging
import SignalKit

/// `ecg2cmr report FILE --out report.pdf`: the one-page printable PDF report (the same writer as
/// `export --pdf`). See docs/export.md.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a one-page PDF report: 12-lead at 25 mm/s and 10 mm/mV, measurements, risks, phenotypes, Grad-CAM, generated CMR.",
        discussion: "Print at 100 % (actual size, no fit-to-page) so that the grid is 1 mm and 5 mm on paper.")

    @Argument(help: "ECG file (WFDB .hea, CSV, HL7 aECG, DICOM, MUSE XML, UK Biobank XML, SCP-ECG).")
    var file: String

    @Option(name: .long, help: "Output PDF file.")
    var out: String

    @Option(name: .long, help: "Paper: a4 or letter (landscape).")
    var paper: PaperSize = .a4

    @Flag(name: .long, help: "Print patient identifiers (ID, age, sex, acquisition time) on the report.")
    var includePhi = false

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var filing: DICOMFilingOptions
    @OptionGroup var inputOptions: InputOptions

    @OptionGroup var generation: CaseGenerationOptions

    @Option(name: .long, help: "Display filter of the traces: diagnostic (0.67–150 Hz), monitor (0.5–40 Hz), notch50, notch60 or none (as recorded); zero-phase, the workstation's bands.")
    var ecgFilter: DisplayFilter = .diagnostic

    @Flag(name: .long, help: "Also write the report as a DICOM Encapsulated PDF beside the PDF (same name, .dcm), for PACS.")
    var dicom = false

    func run() throws {
        let options = ExportOptions(seed: generation.seed, includePHI: includePhi, gradCAMTarget: generation.gradcamHead, pdfPaper: paper,
                                    studyInstanceUID: filing.studyUID, accessionNumber: filing.accession, anatomy: generation.anatomy,
                                    showUnreliable: generation.showUnreliable)
        do { try options.validate() } catch { throw ValidationError("\(error)") }
        try refuseForeignOutput(out, what: "a PDF") { $0.starts(with: Array("%PDF-".utf8)) }
        if dicom {
            let dcmPath = URL(fileURLWithPath: out).deletingPathExtension().appendingPathExtension("dcm").path
            try refuseForeignOutput(dcmPath, what: "a DICOM file") { $0.count >= 132 ? $0[128..<132].elementsEqual("DICM".utf8) : false }
        }
        let cases = try modelOptions.load()
        let record = try ECGFileReader.read(url: URL(fileURLWithPath: file), options: inputOptions.readerOptions)
        let exporter = try CaseExporter(cases: cases, options: options, readOptions: inputOptions.readerOptions,
                                        softwareVersion: CMRExportInfo.softwareVersion)
        let data = try exporter.reportPDF(record: record, paper: paper, filter: ecgFilter)
        let outURL = URL(fileURLWithPath: out)
        try AtomicFile.write(data, to: outURL)
        print("wrote \(outURL.path) (\(data.count) bytes, \(paper.rawValue) landscape, model \(cases.model.id))")
        if dicom {
            let dcmURL = outURL.deletingPathExtension().appendingPathExtension("dcm")
            guard dcmURL.standardizedFileURL != outURL.standardizedFileURL else { throw ValidationError("--out must not end in .dcm with --dicom") }
            let dcm = try exporter.reportDICOM(record: record, pdf: data)
            try AtomicFile.write(dcm, to: dcmURL)
            print("wrote \(dcmURL.path) (DICOM Encapsulated PDF, \(dcm.count) bytes)")
        }
    }
}
