import ECGFormats
import Foundation

/// Derived limb leads for records that lack them (the formulas: `ECGFormats.LimbLeads`).
public enum LeadDerivation {
    /// Leads that can be computed from I and II.
    public static let derivable = Set(LeadID.derivableFromIAndII)

    /// One derived lead, marked `isDerived`. Throws when I or II is missing or lengths differ.
    public static func derive(_ id: LeadID, from record: ECGRecord) throws -> Lead {
        guard derivable.contains(id) else { throw SignalError.missingLead(id.description) }
        guard let i = record.lead(.i)?.millivolts, let ii = record.lead(.ii)?.millivolts else {
            throw SignalError.missingLead(id.description)
        }
        guard i.count == ii.count else {
            throw SignalError.leadLengthMismatch(lead: "II", expected: i.count, got: ii.count)
        }
        guard let values = LimbLeads.derive(id, i: i, ii: ii) else { throw SignalError.missingLead(id.description) }
        return Lead(id: id, millivolts: values, isDerived: true)
    }

    /// The record with III, aVR, aVL and aVF added (derived) where missing, leads kept in
    /// standard order followed by any extra leads. Unchanged when I or II is absent.
    public static func completingLimbLeads(_ record: ECGRecord) -> ECGRecord {
        guard record.lead(.i) != nil, record.lead(.ii) != nil else { return record }
        var leads = record.leads
        for id in LeadID.derivableFromIAndII where record.lead(id) == nil {
            if let lead = try? derive(id, from: record) { leads.append(lead) }
        }
        let standard = LeadID.standard12.compactMap { id in leads.first { $0.id == id } }
        let extra = leads.filter { $0.id.standardIndex == nil }
        var out = record
        out.leads = standard + extra
        return out
    }
}
