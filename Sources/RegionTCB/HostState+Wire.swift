package import RegionProtocol

/// Typed views of the host states that the wire and the IVT's events carry as their raw values (the JSON keeps the
/// string, so a reader of an older or newer RC-TCB still decodes what it does not know: those read as nil).
extension ReportResult {
    package init(target: String, hostState: HostState, code: String? = nil, detail: String? = nil, next: RingAssignment? = nil) {
        self.init(target: target, state: hostState.rawValue, code: code, detail: detail, next: next)
    }

    /// The target's state after the report.
    package var hostState: HostState? { HostState(rawValue: state) }
}

extension IVTEvent {
    package var oldHostState: HostState? { oldState.flatMap(HostState.init(rawValue:)) }
    package var newHostState: HostState? { newState.flatMap(HostState.init(rawValue:)) }
}
