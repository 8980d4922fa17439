import Logging
import NIOCore
import NIOHTTP1
import NIOTLS

/// What the HTTP side of a connection tells its ``ConnectionDeadlineHandler`` (as outbound user events, which
/// travel from ``RequestProgressHandler`` towards the front of the pipeline).
enum RequestProgress: Sendable {
    /// A request's head was read.
    case head
    /// A request's body was read to its end.
    case end
    /// A response was written to its end.
    case responseEnd
}

/// Right after TLS in a connection's pipeline: gives each phase of the connection its deadline and closes the
/// connection when one passes. The TLS handshake must end within ``ListenerLimits/handshakeTimeout`` of the
/// connection; a request's head within ``ListenerLimits/headerTimeout`` of its first byte; its body within
/// ``ListenerLimits/bodyTimeout`` of its head. While the server works on a request there is no deadline (a quote
/// waits for the TPM); between requests Hummingbird's idle time-out applies.
final class ConnectionDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = Any

    enum Phase: String {
        case handshake, idle, header, body, responding
    }

    let limits: ListenerLimits
    let logger: Logger
    var phase = Phase.handshake
    /// Requests read whose response has not ended (more than one when a client pipelines).
    var open = 0
    /// Bytes arrived while a response was being made: the next request had begun.
    var bytesWhileResponding = false
    var deadline: Scheduled<Void>?

    init(limits: ListenerLimits, logger: Logger) {
        self.limits = limits
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context, limits.handshakeTimeout) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
    }

    func channelActive(context: ChannelHandlerContext) {
        if deadline == nil, phase == .handshake { arm(context, limits.handshakeTimeout) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event, phase == .handshake {
            enter(.idle, context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch phase {
        case .idle: enter(.header, context)
        case .responding: bytesWhileResponding = true
        case .handshake, .header, .body: break
        }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let progress = event as? RequestProgress else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        switch progress {
        case .head:
            open += 1
            bytesWhileResponding = false
            enter(.body, context)
        case .end:
            enter(.responding, context)
        case .responseEnd:
            open = max(0, open - 1)
            if open > 0 || phase == .body || phase == .header { break }
            enter(bytesWhileResponding ? .header : .idle, context)
            bytesWhileResponding = false
        }
        promise?.succeed()
    }

    func enter(_ next: Phase, _ context: ChannelHandlerContext) {
        phase = next
        disarm()
        switch next {
        case .handshake: arm(context, limits.handshakeTimeout)
        case .header: arm(context, limits.headerTimeout)
        case .body: arm(context, limits.bodyTimeout)
        case .idle, .responding: break
        }
    }

    func arm(_ context: ChannelHandlerContext, _ timeout: TimeAmount) {
        disarm()
        let phase = self.phase
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            deadline = nil
            logger.notice("connection closed: \(phase.rawValue) time-out",
                          metadata: ["attest.peer": "\(context.channel.remoteAddress?.ipAddress ?? "-")", "attest.timeout": "\(timeout)"])
            context.close(promise: nil)
        }
    }

    func disarm() {
        deadline?.cancel()
        deadline = nil
    }
}

/// Right after the HTTP/1 decoder: tells the ``ConnectionDeadlineHandler`` where each request's head and body end
/// and where each response ends.
final class RequestProgressHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: context.triggerUserOutboundEvent(RequestProgress.head, promise: nil)
        case .end: context.triggerUserOutboundEvent(RequestProgress.end, promise: nil)
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let ended = if case .end = unwrapOutboundIn(data) { true } else { false }
        context.write(data, promise: promise)
        if ended { context.triggerUserOutboundEvent(RequestProgress.responseEnd, promise: nil) }
    }
}
