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
    /// When the current phase must have ended; nil: no deadline now.
    var due: NIODeadline?
    /// The pending timer and when it fires. It is not cancelled when a phase ends (a cancellation searches the event
    /// loop's timers, a cost per request): it fires, finds the deadline in force then, closes or waits for that.
    var timer: Scheduled<Void>?
    var timerAt: NIODeadline?

    init(limits: ListenerLimits, logger: Logger) {
        self.limits = limits
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { enter(.handshake, context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    func channelActive(context: ChannelHandlerContext) {
        if due == nil, phase == .handshake { enter(.handshake, context) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
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
        let timeout: TimeAmount? = switch next {
        case .handshake: limits.handshakeTimeout
        case .header: limits.headerTimeout
        case .body: limits.bodyTimeout
        case .idle, .responding: nil
        }
        guard let timeout else {
            due = nil
            return
        }
        let at = NIODeadline.now() + timeout
        due = at
        // A pending timer that fires no later will find this deadline and wait for it.
        if let timerAt, timerAt <= at { return }
        timer?.cancel()
        schedule(context, at)
    }

    func schedule(_ context: ChannelHandlerContext, _ at: NIODeadline) {
        timerAt = at
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: at) { [self] in
            timer = nil
            timerAt = nil
            guard let due else { return }
            guard NIODeadline.now() >= due else { return schedule(context, due) }
            logger.notice("connection closed: \(phase.rawValue) time-out",
                          metadata: ["attest.peer": "\(context.channel.remoteAddress?.ipAddress ?? "-")"])
            context.close(promise: nil)
        }
    }

    func stop() {
        due = nil
        timer?.cancel()
        timer = nil
        timerAt = nil
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
