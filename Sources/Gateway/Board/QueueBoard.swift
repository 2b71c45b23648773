import Engine
import Foundation
public import Hummingbird
import Jobs
import Logging
import Runtime
import Storage

/// The queue board (the operator guide's "BullMQ dashboard" on :3003, `--board-port`): each queue's counts by
/// state, its jobs in each state with their data, attempts, last error, timestamps and the worker holding them,
/// the workers' heartbeats, and the operators' actions — per job retry, remove, promote; per queue pause/resume,
/// retry all failed, clean completed. Operators only (sign-in as on the dashboard; anyone else gets 404); every
/// action is logged with the operator's id. The queues stay BullMQ's keys, so the guide's `redis-cli` works too.
public enum QueueBoard {
    /// The board's router: its own port, the dashboard's sessions (the cookie is the host's, whatever the port).
    public static func router(dependencies: GatewayDependencies, services: GatewayServices) -> Router<APIContext> {
        let router = Router(context: APIContext.self)
        router.middlewares.add(SecurityHeadersMiddleware())
        router.middlewares.add(ProblemDetailsMiddleware())
        router.middlewares.add(AuthMiddleware(auth: services.auth, epochs: services.sessions))
        router.middlewares.add(CSRFMiddleware())
        let routes = RouteTable(router: router)
        Dashboard.registerSession(routes, services)
        routes.add(.get, "/assets/dashboard.css") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "text/css; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: Scripts.style)))
        }
        routes.add(.get, "/") { request, context -> Response in
            let (csrf, fresh) = Dashboard.csrfToken(request)
            let words = Words(language: Language.of(request))
            var response: Response
            if let user = context.user, let email = try await GatewayAPI.email(of: user, services: services) {
                guard services.runtime.state.operators.contains(user) else {
                    throw problem(404, "not found")
                }
                let queue = request.uri.queryParameters.get("queue").flatMap(QueueName.init(rawValue:))
                let state = request.uri.queryParameters.get("state").flatMap(JobState.init(rawValue:)) ?? .failed
                let offset = max(0, min(Int(request.uri.queryParameters.get("offset") ?? "") ?? 0, 1_000_000))
                let view = try await Self.view(
                    queue: queue ?? .tradeExecution,
                    state: state,
                    offset: offset,
                    email: email,
                    csrf: csrf,
                    words: words,
                    dependencies: dependencies
                )
                response = Dashboard.html(Templates.render(view, "board"))
            } else {
                response = Dashboard.html(
                    Templates.render(SignInView(words: words, csrf: csrf, error: false), "signIn")
                )
            }
            Dashboard.setCookies(&response, request: request, csrf: fresh ? csrf : nil)
            return response
        }
        routes.add(.post, "/jobs/action") { request, context -> Response in
            let (user, form) = try await Self.operatorForm(request, context, services)
            let queue = try Self.queue(form["queue"])
            let id = form["id"] ?? ""
            guard (1...200).contains(id.utf8.count), !id.contains(where: { $0.isNewline || $0 == "\0" }) else {
                throw problem(422, "a job id is 1 to 200 characters on one line")
            }
            let store = try Self.store(dependencies)
            let action = form["action"] ?? ""
            let result: String = try await blocking {
                switch action {
                case "retry": return try store.retry(queue, id: id) ? "retried" : "not failed"
                case "promote": return try store.promote(queue, id: id) ? "promoted" : "not delayed"
                case "remove":
                    switch try store.remove(queue, id: id) {
                    case .removed: return "removed"
                    case .notFound: return "not found"
                    case .heldByAWorker: return "held by a worker"
                    }
                default: throw problem(422, "action must be retry, promote or remove; got '\(action)'")
                }
            }
            context.logger.notice(
                "queue board: job \(action)",
                metadata: [
                    "operator": "\(user)", "queue": "\(queue.rawValue)", "job": "\(id)", "result": "\(result)",
                ]
            )
            guard ["retried", "promoted", "removed"].contains(result) else {
                throw problem(409, "\(action) \(queue.rawValue) job \(id): \(result)")
            }
            return Self.back(form)
        }
        routes.add(.post, "/queues/action") { request, context -> Response in
            let (user, form) = try await Self.operatorForm(request, context, services)
            let queue = try Self.queue(form["queue"])
            let store = try Self.store(dependencies)
            let action = form["action"] ?? ""
            let count: Int = try await blocking {
                switch action {
                case "pause":
                    try store.pause(queue)
                    return 0
                case "resume":
                    try store.resume(queue)
                    return 0
                case "retry-failed": return try store.retryFailed(queue)
                case "clean-completed": return try store.cleanCompleted(queue)
                default:
                    throw problem(
                        422,
                        "action must be pause, resume, retry-failed or clean-completed; got '\(action)'"
                    )
                }
            }
            context.logger.notice(
                "queue board: queue \(action)",
                metadata: ["operator": "\(user)", "queue": "\(queue.rawValue)", "jobs": "\(count)"]
            )
            return Self.back(form)
        }
        return router
    }

    /// A state-changing form of the board: same-origin, with the CSRF token, from an operator (404 otherwise).
    static func operatorForm(_ request: Request, _ context: APIContext, _ services: GatewayServices) async throws -> (
        UserID, [String: String]
    ) {
        let buffer = try await request.body.collect(upTo: 8 << 10)
        try CSRFMiddleware.checkOrigin(request)
        let form = try Dashboard.parseForm(String(buffer: buffer))
        try CSRFMiddleware.checkToken(request, given: form["csrf"])
        let user = try context.requireUser()
        guard services.runtime.state.operators.contains(user) else { throw problem(404, "not found") }
        return (user, form)
    }

    static func queue(_ text: String?) throws -> QueueName {
        guard let queue = text.flatMap(QueueName.init(rawValue:)) else {
            throw problem(
                422,
                "queue must be one of \(QueueName.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        return queue
    }

    static func store(_ dependencies: GatewayDependencies) throws -> JobQueueStore {
        guard let endpoint = dependencies.redis else { throw problem(503, "Redis is not configured (REDIS_URL)") }
        return JobQueueStore(redis: RedisClient(endpoint: endpoint, timeoutSeconds: 2))
    }

    /// Back to the list the action was taken from.
    static func back(_ form: [String: String]) -> Response {
        var response = Response(status: .seeOther)
        let queue = form["queue"].flatMap(QueueName.init(rawValue:))?.rawValue ?? ""
        let state = form["state"].flatMap(JobState.init(rawValue:))?.rawValue ?? "failed"
        response.headers[.location] = "/?queue=\(queue)&state=\(state)"
        return response
    }
}

/// What the board's template renders.
struct BoardView {
    struct StateCount {
        var queue, state: String
        var count: Int
        var selected: Bool
    }
    struct QueueRow {
        var name: String
        var paused: Bool
        var states: [StateCount]
    }
    struct JobRow {
        var id, data, attempts, added, processed, finished: String
        var due, holder, error: String?
        var canRetry, canPromote, canRemove: Bool
    }
    struct WorkerRow {
        var worker, queue, started, seen: String
        var alive: Bool
    }

    var lang, otherLanguage, title, csrf: String
    var t: [String: String]
    var email: String?
    var queues: [QueueRow]
    var queue, state: String
    var total: Int
    var range: String
    var jobs: [JobRow]
    var newer, older: Int?
    var workers: [WorkerRow]
    var redisError: String?
}

extension QueueBoard {
    static let pageSize = 50

    /// `YYYY-MM-DD HH:MM:SS` KST of a time in ms since the epoch.
    static func time(_ milliseconds: Int64?) -> String {
        guard let milliseconds, milliseconds > 0, milliseconds < 253_402_300_800_000 else { return "" }
        let micros = milliseconds * 1_000
        let date = KST.date(day: KST.day(micros))
        let text = KST.hhmmss(micros)
        return String(format: "%04d-%02d-%02d ", date.year, date.month, date.day)
            + "\(text.prefix(2)):\(text.dropFirst(2).prefix(2)):\(text.suffix(2))"
    }

    static func view(
        queue: QueueName,
        state: JobState,
        offset: Int,
        email: String,
        csrf: String,
        words: Words,
        dependencies: GatewayDependencies
    ) async throws -> BoardView {
        var view = BoardView(
            lang: words.language.rawValue,
            otherLanguage: words.language.other.rawValue,
            title: words["board"],
            csrf: csrf,
            t: words.table,
            email: email,
            queues: [],
            queue: queue.rawValue,
            state: state.rawValue,
            total: 0,
            range: "",
            jobs: [],
            workers: []
        )
        do {
            let store = try Self.store(dependencies)
            let now = Int64(Date().timeIntervalSince1970 * 1_000)
            let (counts, paused, listed, beats) = try await blocking {
                (
                    try QueueName.allCases.map { try store.counts($0) },
                    try QueueName.allCases.map { try store.isPaused($0) },
                    try store.jobs(queue, state: state, offset: offset, limit: Self.pageSize),
                    try store.workers(now: now)
                )
            }
            view.queues = zip(QueueName.allCases, zip(counts, paused)).map { name, pair in
                let (count, paused) = pair
                let byState: [JobState: Int] = [
                    .wait: count.wait, .active: count.active, .delayed: count.delayed, .failed: count.failed,
                    .completed: count.completed,
                ]
                return BoardView.QueueRow(
                    name: name.rawValue,
                    paused: paused,
                    states: JobState.allCases.map {
                        .init(
                            queue: name.rawValue,
                            state: $0.rawValue,
                            count: byState[$0] ?? 0,
                            selected: name == queue && $0 == state
                        )
                    }
                )
            }
            view.total = listed.total
            view.range = listed.jobs.isEmpty ? "" : "\(offset + 1)–\(offset + listed.jobs.count) / \(listed.total)"
            view.newer = offset > 0 ? max(0, offset - Self.pageSize) : nil
            view.older = offset + Self.pageSize < listed.total ? offset + Self.pageSize : nil
            view.jobs = listed.jobs.map { job in
                BoardView.JobRow(
                    id: job.id,
                    data: job.data,
                    attempts: "\(job.attemptsMade)/\(job.maxAttempts)",
                    added: Self.time(job.timestamp),
                    processed: Self.time(job.processedOn),
                    finished: Self.time(job.finishedOn),
                    due: job.dueAt.map { Self.time($0) },
                    holder: job.holder.map { String($0.prefix { $0 != "#" }) },
                    error: job.failedReason ?? job.lastError,
                    canRetry: job.state == .failed,
                    canPromote: job.state == .delayed,
                    canRemove: job.state != .active
                )
            }
            view.workers = beats.map {
                .init(
                    worker: $0.worker,
                    queue: $0.queue,
                    started: Self.time($0.startedAt),
                    seen: Self.time($0.seenAt),
                    alive: now - $0.seenAt < 10_000
                )
            }
        } catch {
            view.redisError = "\(error)"
        }
        return view
    }
}
