import Foundation
import Testing
@testable import Screening

/// Writes `text` as a dataset manifest in a fresh folder.
private func manifest(_ text: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dataset-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let url = dir.appendingPathComponent("dataset.csv")
    try Data(text.utf8).write(to: url)
    return url.path
}

@Test func datasetManifestReadsQuotedFieldsLabelsAndPhenotypes() throws {
    let path = try manifest("""
    subject,ecg,sax,lax,split,label:cad,phenotype:lv_ef\r
    1000017,"ecg/with, comma.xml",cmr/1000017/sa,,train,1,58.5\r
    1000018,/abs/ecg.xml,,cmr/1000018/la.nii.gz,val,,NA\r

    """)
    let d = try PairedDataset.load(path)
    let base = URL(fileURLWithPath: path).deletingLastPathComponent().path
    #expect(d.labelIDs == ["cad"] && d.phenotypeIDs == ["lv_ef"] && d.subjects.count == 2)
    #expect(d.subjects[0].ecg == base + "/ecg/with, comma.xml" && d.subjects[0].sax == base + "/cmr/1000017/sa")
    #expect(d.subjects[0].lax == nil && d.subjects[0].labels["cad"] == 1 && d.subjects[0].phenotypes["lv_ef"] == 58.5)
    #expect(d.subjects[1].ecg == "/abs/ecg.xml" && d.subjects[1].labels["cad"] == .some(nil))
    #expect(d.subjects[1].phenotypes["lv_ef"] == .some(nil) && d.subjects[1].line == 3)
    #expect(d.sha256.count == 64)
}

@Test(arguments: [
    ("subject,ecg\n1,a.xml\n", "has no 'split' column"),
    ("subject,ecg,split,age\n1,a.xml,train,60\n", "unknown column 'age'"),
    ("subject,ecg,split\n1,a.xml,train\n1,b.xml,val\n", ":3: subject '1' appears twice"),
    ("subject,ecg,split\n1,a.xml,holdout\n", ":2: split must be train, val or test"),
    ("subject,ecg,split,label:cad\n1,a.xml,train,2\n", "label:cad must be 0, 1 or empty"),
    ("subject,ecg,split,phenotype:lv_ef\n1,a.xml,train,high\n", "phenotype:lv_ef must be a number or empty"),
    ("subject,ecg,split\n../x,a.xml,train\n", "subject must be 1…128 letters"),
    ("subject,ecg,split\n1,a.xml\n", ":2: has 2 fields, the header 3"),
    ("subject,ecg,split\n1,\"a.xml,train\n", "a quoted field is not closed"),
    ("subject,ecg,split\n", "lists no subjects"),
    ("subject,ecg,split,split\n1,a,train,train\n", "a column name appears twice"),
])
func badDatasetManifestsAreRefusedWithFileAndLine(_ c: (String, String)) throws {
    let path = try manifest(c.0)
    do {
        _ = try PairedDataset.load(path)
        Issue.record("accepted a manifest that should fail with '\(c.1)'")
    } catch let e as DatasetError {
        #expect(e.description.hasPrefix(path) && e.description.contains(c.1), "\(e)")
    }
}
