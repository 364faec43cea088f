import Foundation

/// The one rule for missing samples (NaN) in SignalKit's filters: a gap is never filtered across.
/// A filter runs on each maximal run of finite samples on its own, so a gap does not spread along
/// the trace (a zero-phase IIR filter fed one NaN returns NaN everywhere) and the samples on both
/// sides are not pulled towards a fill value that was never recorded.
enum FiniteRuns {
    /// `filter` applied to each maximal run of finite samples of `x`; non-finite samples stay where
    /// they are. A run the filter cannot take (it throws, e.g. shorter than its pad length) becomes
    /// missing too: an unfiltered stub next to filtered samples would be a step that is not in the signal.
    /// Without a gap this is `filter(x)`, and its error is thrown (a record too short for the filter).
    static func map(_ x: [Float], _ filter: ([Float]) throws -> [Float]) rethrows -> [Float] {
        if !x.contains(where: { !$0.isFinite }) { return try filter(x) }
        var out = x
        var start = 0
        while start < x.count {
            guard x[start].isFinite else { start += 1; continue }
            var end = start
            while end < x.count, x[end].isFinite { end += 1 }
            if let y = try? filter(Array(x[start..<end])), y.count == end - start {
                out.replaceSubrange(start..<end, with: y)
            } else {
                out.replaceSubrange(start..<end, with: repeatElement(Float.nan, count: end - start))
            }
            start = end
        }
        return out
    }

    /// The maximal runs of non-finite samples in `x`, as index ranges.
    static func gaps(in x: [Float]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var i = 0
        while i < x.count {
            guard !x[i].isFinite else { i += 1; continue }
            var end = i
            while end < x.count, !x[end].isFinite { end += 1 }
            out.append(i..<end)
            i = end
        }
        return out
    }
}
