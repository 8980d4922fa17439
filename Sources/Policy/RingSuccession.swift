/// The ring's one successor rule (SMIG's adjacent integrity measurement): in ring order, the member `step` places
/// after another, wrapping round. `RegionPolicy.neighbour(of:)`, the RC-TCB's ring view (which steps by the current
/// rotation's offset over the enrolled members) and the evacuator's `ring-next` target preference all read it.
public enum RingSuccession {
    /// The member `step` places after the one at `index` in `ring` (which is not empty).
    public static func successor(at index: Int, step: Int, in ring: [String]) -> String {
        ring[(index + step) % ring.count]
    }
}
