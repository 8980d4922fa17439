@testable import Benchmarks
import Testing

/// `bench region` takes turns between its two phases: each phase's stretches are summed into one result, and the
/// RC-TCB's CPU is counted only inside the stretches of the phase it is charged to.
@Suite("bench region phases")
struct RegionLoadTallyTests {
    /// Two stretches as one: counts, seconds and CPU added, rates over the summed time, percentiles over every
    /// latency of both (not an average of each stretch's).
    @Test func stretchesOfOnePhaseAddUp() {
        let fast = RegionLoadTally(latencies: Array(repeating: .milliseconds(1), count: 90), errors: 1, firstError: "first",
                                   seconds: 2, cpuSeconds: 1, stealSeconds: 0.5, busySeconds: 3)
        let slow = RegionLoadTally(latencies: Array(repeating: .milliseconds(50), count: 10), errors: 2, firstError: "second",
                                   seconds: 2, cpuSeconds: 3, stealSeconds: 1.5, busySeconds: 1)
        let r = RegionLoadTally.merged([fast, slow]).result
        #expect(r.attestations == 100 && r.errors == 3 && r.firstError == "first")
        #expect(r.seconds == 4 && r.perSecond == 25)
        #expect(r.processCPUCores == 1 && r.stealCores == 0.5 && r.machineBusyCores == 1)
        #expect(r.p50Milliseconds == 1 && r.p99Milliseconds == 50)
    }

    /// Steal or busy time unreadable in any stretch is unknown for the phase, not counted as zero.
    @Test func anUnreadableStretchLeavesTheMachineFiguresUnknown() {
        let read = RegionLoadTally(latencies: [.milliseconds(1)], seconds: 1, stealSeconds: 0.2, busySeconds: 1)
        let unread = RegionLoadTally(latencies: [.milliseconds(1)], seconds: 1)
        let r = RegionLoadTally.merged([read, unread]).result
        #expect(r.stealCores == nil && r.machineBusyCores == nil)
        #expect(RegionLoadTally.merged([]).result.attestations == 0)
    }

    /// CPU read at each stretch's edges: what a process spends between stretches (the other phase's, the warm-up)
    /// is charged to neither phase, and an edge that could not be read drops its stretch.
    @Test func cpuIsChargedToThePhaseOfEachStretch() {
        let cpu = PhaseCPU()
        cpu.mark(.attestations, starting: true, 10)
        cpu.mark(.attestations, starting: false, 13)
        cpu.mark(.floor, starting: true, 13)
        cpu.mark(.floor, starting: false, 14)
        cpu.mark(.attestations, starting: true, 20)
        cpu.mark(.attestations, starting: false, 22)
        cpu.mark(.floor, starting: true, nil)
        cpu.mark(.floor, starting: false, 30)
        #expect(cpu.total(.attestations) == 5)
        #expect(cpu.total(.floor) == 1)
    }

    /// About two seconds a stretch, never none.
    @Test func stretchesAreAboutTwoSeconds() {
        #expect(RegionLoadGenerator.slices(forSeconds: 0.5) == 1)
        #expect(RegionLoadGenerator.slices(forSeconds: 10) == 5)
        #expect(RegionLoadGenerator.slices(forSeconds: 120) == 60)
    }
}
