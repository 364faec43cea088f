import CardiacModels
import ECGFormats
import Foundation
import SignalKit

/// Whether the model can read a record at all: it needs every one of its input leads, stored or
/// derivable from I and II. A 2-lead Holter (MIT-BIH's MLII + V5), a 3-lead monitoring strip or a
/// record without I are still ECGs — viewed, measured and printed — but the model does not apply,
/// and every front end says why instead of failing.
public enum ModelApplicability {
    /// nil when the model applies; else the reason, e.g. "the model needs leads I, II, V1–V6
    /// (III, aVR, aVL, aVF are derived from I and II); this record has MLII, V5".
    public static func reason(record: ECGRecord, modelLeads: [LeadID]) -> String? {
        let missing = modelLeads.filter { id in
            record.lead(id) == nil && !(LeadDerivation.derivable.contains(id) && record.lead(.i) != nil && record.lead(.ii) != nil)
        }
        guard !missing.isEmpty else { return gapReason(record: record, modelLeads: modelLeads) }
        let derivable = modelLeads.filter { LeadDerivation.derivable.contains($0) }
        let needed = modelLeads.filter { !LeadDerivation.derivable.contains($0) }
        var need = "the model needs leads " + compact(needed.map(\.description))
        if !derivable.isEmpty { need += " (" + derivable.map(\.description).joined(separator: ", ") + " are derived from I and II)" }
        let stored = record.fileLeadOrder.compactMap { id in record.leads.first { $0.id == id && !$0.isDerived } }
        let has = stored.map { $0.fileLabel ?? $0.id.description }
        return need + "; this record has " + (has.isEmpty ? "no leads" : has.joined(separator: ", "))
    }

    /// A missing sample (NaN) is a gap, never a value: the encoder cannot read one, so a record
    /// with a gap in a lead the model reads (I and II also for the leads derived from them) is
    /// measured and drawn but not given to the model — "the model needs every sample of its input
    /// leads; this record has a 0.40 s gap in V2 at 4.00 s".
    static func gapReason(record: ECGRecord, modelLeads: [LeadID]) -> String? {
        var read = Set(modelLeads.filter { id in record.leads.contains { $0.id == id && !$0.isDerived } })
        if modelLeads.contains(where: { !read.contains($0) }) { read.formUnion([.i, .ii]) }
        let looked = record.leads.filter { !$0.isDerived && read.contains($0.id) }.count
        return SampleGap.describe(SampleGap.find(in: record, leads: read), leadCount: looked)
            .map { "the model needs every sample of its input leads; this record has " + $0 }
    }

    /// "I, II, V1–V6": a run of three or more consecutive precordial leads is written as a range.
    static func compact(_ names: [String]) -> String {
        var out: [String] = []
        var run: [Int] = []
        func flush() {
            if run.count >= 3, let a = run.first, let b = run.last { out.append("V\(a)–V\(b)") } else { out += run.map { "V\($0)" } }
            run = []
        }
        for name in names {
            if name.hasPrefix("V"), let k = Int(name.dropFirst()), (1...9).contains(k), run.last.map({ $0 + 1 == k }) ?? true {
                run.append(k)
            } else {
                flush()
                if name.hasPrefix("V"), let k = Int(name.dropFirst()), (1...9).contains(k) { run = [k] } else { out.append(name) }
            }
        }
        flush()
        return out.joined(separator: ", ")
    }
}

extension CaseAnalysis {
    /// nil when this model can read `record`; else why not (`ModelApplicability`), for the front
    /// ends to show instead of a score.
    public func notApplicableReason(_ record: ECGRecord) -> String? {
        ModelApplicability.reason(record: record, modelLeads: pipeline.inputLeads)
    }

    /// Whether the model predicts calibrated 80 % intervals, so it can draw a heart within them
    /// (`--anatomy range`, the TUI's range key).
    public var canDrawAnatomyRange: Bool { pipeline.canDrawAnatomyRange }
}
