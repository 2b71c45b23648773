import Engine
import Foundation
import Jobs

/// The OpenAPI 3.0 description of every route, served at `/openapi.json`. A test holds it to the router's
/// route table (same paths and methods), and schemathesis exercises the server against it.
enum OpenAPIDocument {
    static let json: String = {
        let data = (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }()

    private static func ref(_ name: String) -> [String: Any] { ["$ref": "#/components/schemas/\(name)"] }
    private static func string(
        _ description: String = "",
        pattern: String? = nil,
        format: String? = nil,
        values: [String]? = nil
    ) -> [String: Any] {
        var schema: [String: Any] = ["type": "string"]
        if !description.isEmpty { schema["description"] = description }
        if let pattern { schema["pattern"] = pattern }
        if let format { schema["format"] = format }
        if let values { schema["enum"] = values }
        return schema
    }
    private static var integer: [String: Any] { ["type": "integer", "format": "int64"] }
    private static var number: [String: Any] { ["type": "number"] }
    private static var boolean: [String: Any] { ["type": "boolean"] }
    private static func object(_ properties: [String: Any], required: [String]? = nil) -> [String: Any] {
        var schema: [String: Any] = ["type": "object", "properties": properties]
        schema["required"] = required ?? Array(properties.keys).sorted()
        return schema
    }
    private static func nullable(_ schema: [String: Any]) -> [String: Any] { schema.merging(["nullable": true]) { $1 } }
    private static func list(_ item: String) -> [String: Any] {
        object(["items": ["type": "array", "items": ref(item)], "count": integer])
    }

    private static var problemResponse: [String: Any] {
        [
            "description": "RFC 9457 problem details",
            "content": ["application/problem+json": ["schema": ref("Problem")]],
        ]
    }

    private static func json(_ schema: [String: Any], _ description: String = "OK") -> [String: Any] {
        ["description": description, "content": ["application/json": ["schema": schema]]]
    }

    private static func query(_ name: String, _ schema: [String: Any], _ description: String) -> [String: Any] {
        ["name": name, "in": "query", "required": false, "schema": schema, "description": description]
    }
    private static func path(_ name: String, _ schema: [String: Any]) -> [String: Any] {
        ["name": name, "in": "path", "required": true, "schema": schema]
    }

    /// One operation: secured unless `public`, with the errors it can answer.
    private static func operation(
        _ summary: String,
        tag: String,
        parameters: [[String: Any]] = [],
        body: [String: Any]? = nil,
        responses: [String: Any],
        errors: [Int],
        secured: Bool = true,
        headers: [[String: Any]] = []
    ) -> [String: Any] {
        var operation: [String: Any] = ["summary": summary, "tags": [tag], "responses": responses]
        var all = parameters + headers
        if secured {
            operation["security"] = [["bearer": [String]()]]
        } else {
            operation["security"] = [[String: Any]]()
        }
        var statuses = errors
        if secured { statuses.append(401) }
        if body != nil { statuses += [400, 413, 415] }
        if !all.isEmpty { operation["parameters"] = all }
        all.removeAll()
        if let body {
            operation["requestBody"] = ["required": true, "content": ["application/json": ["schema": body]]]
        }
        var responses = responses
        for status in Set(statuses) { responses[String(status)] = problemResponse }
        operation["responses"] = responses
        return operation
    }

    /// The operation with a `text/csv` request body instead of JSON.
    private static func csv(_ operation: [String: Any]) -> [String: Any] {
        var operation = operation
        operation["requestBody"] = ["required": true, "content": ["text/csv": ["schema": ["type": "string"]]]]
        return operation
    }

    private static var stockID: [String: Any] { string("Six-digit KRX code", pattern: "^[0-9]{6}$") }
    private static var timeframe: [String: Any] { string("Candle timeframe", values: ["1m", "5m", "15m", "1h", "1d"]) }
    private static var time: [String: Any] {
        [
            "anyOf": [
                string("ISO 8601 time", format: "date-time"), string("A KST day", format: "date"),
                string("µs since the epoch", pattern: "^-?[0-9]{1,18}$"),
            ]
        ]
    }
    private static func limit(_ maximum: Int) -> [String: Any] {
        ["type": "integer", "minimum": 1, "maximum": maximum]
    }

    static var document: [String: Any] {
        [
            "openapi": "3.0.3",
            "info": [
                "title": "StockBoom API", "version": "1.0.0",
                "description":
                    "The gateway of StockBoom: an event-sourced trading engine for KRX stocks. Money and prices are integer KRW; errors are RFC 9457 problem details.",
            ],
            "servers": [["url": "http://localhost:3001"]],
            "components": [
                "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer", "bearerFormat": "JWT"]],
                "schemas": [
                    "Problem": object(
                        ["type": string(), "title": string(), "status": integer, "detail": string()],
                        required: ["type", "title", "status"]
                    ),
                    "Credentials": object([
                        "email": string(format: "email"),
                        "password": string(format: "password").merging(["minLength": 10, "maxLength": 1024]) { $1 },
                    ]),
                    "Erasure": object(["password": string(format: "password")]).merging(["additionalProperties": false])
                    { $1 },
                    "PasswordChange": object([
                        "currentPassword": string(format: "password"),
                        "newPassword": string(format: "password").merging(["minLength": 10, "maxLength": 1024]) { $1 },
                    ])
                    .merging(["additionalProperties": false]) { $1 },
                    "User": object(["id": string(), "email": string()]),
                    "Session": object([
                        "token": string(), "tokenType": string(), "expiresAt": string(format: "date-time"),
                        "user": ref("User"),
                    ]),
                    "KillSwitch": object(["confirm": ["type": "boolean", "enum": [true]]]).merging([
                        "additionalProperties": false
                    ]) { $1 },
                    "Reason": object([
                        "reason": string(
                            pattern:
                                "^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069\\ufeff]{1,200}$"
                        )
                    ])
                    .merging(["additionalProperties": false]) { $1 },
                    "Trading": object(["halted": nullable(string())]),
                    "OperatorAccount": object(["account": ref("Account"), "user": string(), "workingOrders": integer]),
                    "KillSwitchResult": object(
                        [
                            "account": string(),
                            "haltedReason": nullable(string()),
                            "strategiesDisabled": ["type": "array", "items": string()],
                            "ordersCancelled": ["type": "array", "items": string()],
                            "cancelsRequested": ["type": "array", "items": string()],
                            "inFlight": ["type": "array", "items": string()],
                        ]
                    ),
                    "ReplaceCredentials": object(
                        [
                            "appKey": string(pattern: "^[!-~]{1,512}$"),
                            "appSecret": string(pattern: "^[!-~]{1,512}$"),
                        ],
                        required: ["appKey", "appSecret"]
                    ).merging(["additionalProperties": false]) { $1 },
                    "CreateAccount": [
                        "oneOf": [
                            object(
                                [
                                    "broker": string(values: ["SIMULATED"]),
                                    "accountNumber": string(pattern: "^[0-9-]{4,32}$"),
                                    "dailyOrderLimit": [
                                        "type": "integer", "minimum": 1, "maximum": 100_000, "nullable": true,
                                    ],
                                    "initialCash": [
                                        "type": "integer", "minimum": 0, "maximum": 10_000_000_000_000,
                                        "nullable": true,
                                    ],
                                ],
                                required: ["broker", "accountNumber"]
                            ).merging(["additionalProperties": false]) { $1 },
                            object(
                                [
                                    "broker": string(values: ["KIS_PAPER", "KIS_REAL"]),
                                    "accountNumber": string(pattern: "^[0-9-]{4,32}$"),
                                    "appKey": string().merging(["minLength": 1, "maxLength": 512]) { $1 },
                                    "appSecret": string().merging(["minLength": 1, "maxLength": 512]) { $1 },
                                    "dailyOrderLimit": [
                                        "type": "integer", "minimum": 1, "maximum": 100_000, "nullable": true,
                                    ],
                                ],
                                required: ["broker", "accountNumber", "appKey", "appSecret"]
                            ).merging(["additionalProperties": false]) { $1 },
                        ]
                    ],
                    "Account": object(
                        [
                            "id": string(), "broker": string(), "accountNumber": string(), "dailyOrderLimit": integer,
                            "cash": integer, "reservedCash": integer,
                            "availableCash": integer, "tokenExpiresAt": nullable(string(format: "date-time")),
                            "haltedReason": nullable(string()), "hasCredentials": boolean,
                        ],
                        required: [
                            "id", "broker", "accountNumber", "dailyOrderLimit", "cash", "reservedCash", "availableCash",
                            "hasCredentials",
                        ]
                    ),
                    "AccountList": list("Account"),
                    "PlaceOrder": object(
                        [
                            "brokerAccountId": string(), "stockId": stockID, "side": string(values: ["BUY", "SELL"]),
                            "type": nullable(string(values: ["LIMIT", "MARKET"])),
                            // The engine's bounds (Bounds.maxQuantity, maxPrice): beyond them 422, not an order.
                            "quantity": ["type": "integer", "format": "int64", "minimum": 1, "maximum": 10_000_000],
                            "price": [
                                "type": "integer", "format": "int64", "minimum": 0, "maximum": 100_000_000,
                                "nullable": true,
                            ],
                            "bracket": object(
                                [
                                    "stopLossPrice": [
                                        "type": "integer", "format": "int64", "minimum": 1, "maximum": 100_000_000,
                                    ],
                                    "takeProfitPrice": [
                                        "type": "integer", "format": "int64", "minimum": 1, "maximum": 100_000_000,
                                    ],
                                    "trailPercent": ["type": "number", "minimum": 0.1, "maximum": 50],
                                    "stopLossPercent": ["type": "number", "minimum": 0.01, "maximum": 99.99],
                                    "takeProfitPercent": ["type": "number", "minimum": 0.01, "maximum": 99.99],
                                ],
                                required: []
                            ).merging(["nullable": true, "minProperties": 1]) { $1 },
                        ],
                        required: ["brokerAccountId", "stockId", "side", "quantity"]
                    ),
                    "Order": object(
                        [
                            "id": string(), "brokerAccountId": string(), "stockId": string(), "side": string(),
                            "type": string(), "quantity": integer, "price": integer,
                            "status": string(values: [
                                "PENDING", "SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "CANCEL_REQUESTED", "FILLED",
                                "CANCELLED", "REJECTED", "FAILED", "EXPIRED",
                            ]),
                            "filledQuantity": integer, "averageFillPrice": integer, "commission": integer,
                            "tax": integer, "brokerOrderNumber": nullable(string()),
                            "rejectedBy": nullable(string()), "failureReason": nullable(string()),
                            "failureMessage": nullable(string()), "source": string(),
                            "clientOrderId": nullable(string()), "createdAt": string(format: "date-time"),
                            "updatedAt": string(format: "date-time"),
                        ],
                        required: [
                            "id", "brokerAccountId", "stockId", "side", "type", "quantity", "price", "status",
                            "filledQuantity", "averageFillPrice", "commission", "tax", "source", "createdAt",
                            "updatedAt",
                        ]
                    ),
                    "OrderList": list("Order"),
                    "Audit": object([
                        "order": ref("Order"),
                        "events": [
                            "type": "array",
                            "items": object(
                                [
                                    "offset": integer, "timestamp": string(format: "date-time"), "type": string(),
                                    "segment": nullable(string()), "frameHash": nullable(string()),
                                    "linkedByNext": nullable(boolean), "payload": ["type": "object"],
                                ],
                                required: ["offset", "timestamp", "type", "payload"]
                            ),
                        ],
                        "verification": object([
                            "ok": boolean, "framesChecked": integer, "problems": ["type": "array", "items": string()],
                            "method": string(),
                        ]),
                    ]),
                    "Portfolio": object([
                        "brokerAccountId": string(), "asOf": string(format: "date-time"), "offset": integer,
                        "cash": integer, "reservedCash": integer, "marketValue": integer,
                        "equity": integer, "realizedProfit": integer, "unrealizedProfit": integer,
                        "commissionPaid": integer, "taxPaid": integer,
                        "positions": [
                            "type": "array",
                            "items": object([
                                "stockId": string(), "quantity": integer, "sellable": integer, "averagePrice": integer,
                                "costBasis": integer, "lastPrice": integer,
                                "marketValue": integer, "unrealizedProfit": integer,
                            ]),
                        ],
                    ]),
                    "PortfolioList": list("Portfolio"),
                    "Stock": object([
                        "id": string(), "name": string(), "market": string(), "lastPrice": integer,
                        "basePrice": integer, "lowerLimit": integer, "upperLimit": integer,
                        "tradingStatus": string(
                            "KRX's trading of the stock as KIS's quote last showed: VI is a volatility interruption's single-price auction (orders are taken, triggers wait); HALTED takes no order",
                            values: StockTradingStatus.allCases.map(\.description)
                        ),
                        "statusReason": string("Why, as the data said it; empty while trading"),
                    ]),
                    "StockList": list("Stock"),
                    "Candles": object([
                        "stockId": string(), "timeframe": string(),
                        "candles": [
                            "type": "array",
                            "items": object([
                                "timestamp": string(format: "date-time"), "open": integer, "high": integer,
                                "low": integer, "close": integer, "volume": integer,
                            ]),
                        ],
                    ]),
                    "Indicators": object([
                        "stockId": string(), "timeframe": string(), "names": ["type": "array", "items": string()],
                        "rows": [
                            "type": "array",
                            "items": object([
                                "timestamp": string(format: "date-time"),
                                "values": ["type": "object", "additionalProperties": number],
                            ]),
                        ],
                    ]),
                    "Quote": object(
                        [
                            "stockId": string(), "price": integer, "basePrice": integer, "change": integer,
                            "changePercent": number, "lowerLimit": integer, "upperLimit": integer,
                            "asOf": nullable(string()),
                            "ticks": [
                                "type": "array",
                                "items": object(["below": integer, "tick": integer], required: ["tick"]),
                            ],
                        ],
                        required: [
                            "stockId", "price", "basePrice", "change", "changePercent", "lowerLimit", "upperLimit",
                            "ticks",
                        ]
                    ),
                    "TokenStatus": object(
                        [
                            "configured": boolean, "kisAccounts": integer, "validTokens": integer,
                            "expiredTokens": integer, "nextExpiry": nullable(string(format: "date-time")),
                            "accounts": [
                                "type": "array", "nullable": true,
                                "items": object(
                                    [
                                        "brokerAccountId": string(), "broker": string(), "valid": boolean,
                                        "expiresAt": nullable(string()),
                                    ],
                                    required: ["brokerAccountId", "broker", "valid"]
                                ),
                            ],
                        ],
                        required: ["configured", "kisAccounts", "validTokens", "expiredTokens"]
                    ),
                    "Trade": object(
                        [
                            "id": string(), "brokerAccountId": string(), "stockId": string(), "orderSide": string(),
                            "orderType": string(), "quantity": integer, "price": integer,
                            "filledQuantity": integer, "averagePrice": integer, "status": string(),
                            "failureReason": nullable(string()), "createdAt": string(format: "date-time"),
                            "updatedAt": string(format: "date-time"),
                        ],
                        required: [
                            "id", "brokerAccountId", "stockId", "orderSide", "orderType", "quantity", "price",
                            "filledQuantity", "averagePrice", "status", "createdAt", "updatedAt",
                        ]
                    ),
                    "TradeList": list("Trade"),
                    "TradeTest": object(["brokerAccountId": string(), "stockId": stockID]),
                    "TradeTestResult": object([
                        "ok": boolean, "brokerAccountId": string(), "stockId": string(),
                        "checks": [
                            "type": "array", "items": object(["name": string(), "ok": boolean, "detail": string()]),
                        ],
                    ]),
                    "Notification": object(
                        [
                            "id": string(), "type": string(), "title": string(), "message": string(), "isRead": boolean,
                            "sentAt": nullable(string(format: "date-time")),
                            "createdAt": string(format: "date-time"),
                        ],
                        required: ["id", "type", "title", "message", "isRead", "createdAt"]
                    ),
                    "NotificationList": list("Notification"),
                    "StrategyRequest": object(
                        [
                            "brokerAccountId": string(), "stockId": stockID,
                            "strategy": [
                                "type": "string", "pattern": "^(ma-cross|rsi-reversion|rule:[a-z0-9][a-z0-9-]{0,39})$",
                                "description": "ma-cross, rsi-reversion, or rule:<name> (one of your rule sets)",
                            ],
                            "parameters": nullable(
                                string(
                                    "key=value pairs: fast=5,slow=20,quantity=10 (percent=10, stop=300, target=600, trail=200 in basis points); a rule strategy: version=N"
                                )
                            ),
                        ],
                        required: ["brokerAccountId", "stockId", "strategy"]
                    ).merging(["additionalProperties": false]) { $1 },
                    "Strategy": object([
                        "brokerAccountId": string(), "stockId": stockID, "strategy": string(), "parameters": string(),
                    ]),
                    "StrategyList": list("Strategy"),
                    "RuleSetRequest": object(
                        [
                            "name": [
                                "type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,39}$", "minLength": 1,
                                "maxLength": 40,
                            ],
                            "source": [
                                "type": "string", "maxLength": 4_096,
                                "description": "The rule set (README: Strategies as data)",
                            ],
                        ],
                        required: ["name", "source"]
                    ).merging(["additionalProperties": false]) { $1 },
                    "RuleSourceRequest": object(
                        ["source": ["type": "string", "maxLength": 4_096]],
                        required: ["source"]
                    ).merging(["additionalProperties": false]) { $1 },
                    "RuleCheck": object([
                        "name": nullable(string()), "strategy": nullable(string()), "version": nullable(integer),
                        "indicators": ["type": "array", "items": string()], "hasExitRule": ["type": "boolean"],
                        "stopLossPercent": nullable(["type": "number"]),
                        "takeProfitPercent": nullable(["type": "number"]),
                        "trailPercent": nullable(["type": "number"]), "size": string(),
                    ]),
                    "RuleSet": object([
                        "name": string(), "strategy": string(), "version": integer,
                        "versions": [
                            "type": "array",
                            "items": object(["version": integer, "source": string()]),
                        ],
                    ]),
                    "RuleSetList": list("RuleSet"),
                    "TriggerRequest": object(
                        [
                            "brokerAccountId": string(), "stockId": stockID,
                            "side": nullable(string(values: ["BUY", "SELL"])),
                            "kind": string(values: ["STOP_LOSS", "TAKE_PROFIT", "TRAILING_STOP"]),
                            "quantity": ["type": "integer", "format": "int64", "minimum": 1, "maximum": 10_000_000],
                            "triggerPrice": [
                                "type": "integer", "format": "int64", "minimum": 0, "maximum": 100_000_000,
                                "nullable": true,
                            ],
                            "trailPercent": ["type": "number", "minimum": 0.1, "maximum": 50, "nullable": true],
                            "limitPrice": [
                                "type": "integer", "format": "int64", "minimum": 0, "maximum": 100_000_000,
                                "nullable": true,
                            ],
                            "group": nullable(string("One-cancels-the-other group", pattern: "^[!-~]{1,64}$")),
                        ],
                        required: ["brokerAccountId", "stockId", "kind", "quantity"]
                    ).merging(["additionalProperties": false]) { $1 },
                    "Trigger": object(
                        [
                            "id": string(), "brokerAccountId": string(), "stockId": stockID, "side": string(),
                            "kind": string(), "quantity": integer, "triggerPrice": integer, "trailPercent": number,
                            "offsetPercent": nullable(["type": "number"]),
                            "level": integer, "limitPrice": integer, "group": string(), "status": string(),
                            "order": nullable(string()), "reason": nullable(string()),
                            "armedAt": string(format: "date-time"), "entry": nullable(string()), "watching": boolean,
                        ],
                        required: [
                            "id", "brokerAccountId", "stockId", "side", "kind", "quantity", "triggerPrice",
                            "trailPercent", "level", "limitPrice", "group", "status", "armedAt", "watching",
                        ]
                    ),
                    "TriggerList": list("Trigger"),
                    "BacktestRequest": object(
                        [
                            "stockId": stockID,
                            "strategy": [
                                "type": "string", "pattern": "^(ma-cross|rsi-reversion|rule:[a-z0-9][a-z0-9-]{0,39})$",
                                "description": "ma-cross, rsi-reversion, or rule:<name> (one of your rule sets)",
                            ],
                            "parameters": nullable(
                                string("key=value pairs: fast=5,slow=20,quantity=10; a rule strategy: version=N")
                            ),
                            "timeframe": nullable(timeframe), "from": nullable(time), "to": nullable(time),
                            "initialCash": nullable(integer),
                        ],
                        required: ["stockId", "strategy"]
                    ),
                    "Backtest": object(
                        [
                            "id": string(), "status": string(values: ["RUNNING", "COMPLETED", "FAILED"]),
                            "request": ref("BacktestRequest"),
                            "report": ["type": "object", "nullable": true], "error": nullable(string()),
                            "createdAt": string(format: "date-time"),
                        ],
                        required: ["id", "status", "request", "createdAt"]
                    ),
                    "BacktestList": list("Backtest"),
                ] as [String: Any],
            ] as [String: Any],
            "paths": [
                "/health": [
                    "get": operation(
                        "Liveness and readiness",
                        tag: "operations",
                        responses: [
                            "200": json(["type": "object"]),
                            "503": json(["type": "object"], "Not ready: `failing` names the part"),
                        ],
                        errors: [],
                        secured: false
                    )
                ],
                "/metrics": [
                    "get": operation(
                        "Prometheus metrics",
                        tag: "operations",
                        responses: [
                            "200": [
                                "description": "Prometheus text format",
                                "content": ["text/plain": ["schema": string()]],
                            ]
                        ],
                        errors: [],
                        secured: false
                    )
                ],
                "/openapi.json": [
                    "get": operation(
                        "This document",
                        tag: "operations",
                        responses: ["200": json(["type": "object"])],
                        errors: [],
                        secured: false
                    )
                ],
                "/": [
                    "get": operation(
                        "Dashboard (HTML)",
                        tag: "dashboard",
                        responses: [
                            "200": ["description": "HTML page", "content": ["text/html": ["schema": string()]]]
                        ],
                        errors: [],
                        secured: false
                    )
                ],
                "/login": [
                    "post": [
                        "summary": "Dashboard sign-in (form)", "tags": ["dashboard"], "security": [[String: Any]](),
                        "requestBody": [
                            "required": true,
                            "content": [
                                "application/x-www-form-urlencoded": [
                                    "schema": object([
                                        "email": string().merging(["minLength": 1]) { $1 },
                                        "password": string().merging(["minLength": 1]) { $1 }, "csrf": string(),
                                    ])
                                ]
                            ],
                        ],
                        "responses": [
                            "303": ["description": "Signed in (cookie set) or back to the form"],
                            "400": problemResponse, "403": problemResponse, "429": problemResponse,
                        ],
                    ] as [String: Any]
                ],
                "/logout": [
                    "post": [
                        "summary": "Dashboard sign-out: ends every session of the user", "tags": ["dashboard"],
                        "security": [[String: Any]](),
                        "responses": ["303": ["description": "Signed out"], "403": problemResponse],
                    ] as [String: Any]
                ],
                "/orders/{id}": [
                    "get": [
                        "summary":
                            "An order's lifecycle page (HTML): its events from the log with offsets and the chain attestation",
                        "tags": ["dashboard"], "security": [[String: Any]](),
                        "parameters": [path("id", string())],
                        "responses": [
                            "200": ["description": "HTML page", "content": ["text/html": ["schema": string()]]],
                            "303": ["description": "Not signed in: to the sign-in page"], "404": problemResponse,
                        ],
                    ] as [String: Any]
                ],
                "/operator/accounts/{id}": [
                    "get": [
                        "summary": "An operator's read-only view of any account (HTML): portfolio, orders, strategies",
                        "tags": ["dashboard"], "security": [[String: Any]](),
                        "parameters": [path("id", string())],
                        "responses": [
                            "200": ["description": "HTML page", "content": ["text/html": ["schema": string()]]],
                            "404": problemResponse,
                        ],
                    ] as [String: Any]
                ],
                "/docs": [
                    "get": operation(
                        "This document in Swagger UI (HTML)",
                        tag: "dashboard",
                        responses: [
                            "200": ["description": "HTML page", "content": ["text/html": ["schema": string()]]]
                        ],
                        errors: [],
                        secured: false
                    )
                ],
                "/assets/dashboard.js": [
                    "get": operation(
                        "The dashboard's script",
                        tag: "dashboard",
                        responses: [
                            "200": ["description": "JavaScript", "content": ["text/javascript": ["schema": string()]]]
                        ],
                        errors: [],
                        secured: false
                    )
                ],
                "/assets/report.js": [
                    "get": operation(
                        "The script that draws a backtest report's charts",
                        tag: "dashboard",
                        responses: [
                            "200": ["description": "JavaScript", "content": ["text/javascript": ["schema": string()]]]
                        ],
                        errors: [],
                        secured: false
                    )
                ],
                "/backtests/{id}": [
                    "get": [
                        "summary":
                            "A backtest's report (HTML): equity against buy-and-hold, drawdown, trades on the price chart, monthly returns, the trade list",
                        "tags": ["dashboard"], "security": [[String: Any]](),
                        "parameters": [path("id", string())],
                        "responses": [
                            "200": ["description": "HTML page", "content": ["text/html": ["schema": string()]]],
                            "303": ["description": "Not signed in: to the sign-in page"], "404": problemResponse,
                        ],
                    ] as [String: Any]
                ],
                "/assets/docs.js": [
                    "get": operation(
                        "The script that starts Swagger UI on /docs",
                        tag: "dashboard",
                        responses: [
                            "200": ["description": "JavaScript", "content": ["text/javascript": ["schema": string()]]]
                        ],
                        errors: [],
                        secured: false
                    )
                ],
                "/assets/dashboard.css": [
                    "get": operation(
                        "The pages' style sheet",
                        tag: "dashboard",
                        responses: ["200": ["description": "CSS", "content": ["text/css": ["schema": string()]]]],
                        errors: [],
                        secured: false
                    )
                ],
                "/kill-switch": [
                    "post": [
                        "summary": "Dashboard kill switch (form: csrf, account, confirm=yes; the session cookie)",
                        "tags": ["dashboard"],
                        "security": [[String: Any]](),
                        "responses": [
                            "303": ["description": "Halted; back to the dashboard"], "401": problemResponse,
                            "403": problemResponse, "404": problemResponse, "422": problemResponse,
                        ],
                    ] as [String: Any]
                ],
                "/api/auth/register": [
                    "post": operation(
                        "Register; answers with a session token",
                        tag: "auth",
                        body: ref("Credentials"),
                        responses: ["201": json(ref("Session"), "Registered")],
                        errors: [409, 422, 429],
                        secured: false
                    )
                ],
                "/api/auth/login": [
                    "post": operation(
                        "Sign in",
                        tag: "auth",
                        body: ref("Credentials"),
                        responses: ["200": json(ref("Session"))],
                        errors: [401, 429],
                        secured: false
                    )
                ],
                "/api/auth/logout": [
                    "post": operation(
                        "Sign out: every token of the user stops working",
                        tag: "auth",
                        responses: ["204": ["description": "Signed out"]],
                        errors: [403]
                    )
                ],
                "/api/auth/password": [
                    "post": operation(
                        "Change the password; every other session ends, the answer is a new token",
                        tag: "auth",
                        body: ref("PasswordChange"),
                        responses: ["200": json(ref("Session"))],
                        errors: [403, 422, 429]
                    )
                ],
                "/api/auth/erase": [
                    "post": operation(
                        "Erase yourself (close every account first): your address becomes unreadable everywhere, your login ends",
                        tag: "auth",
                        body: ref("Erasure"),
                        responses: ["204": ["description": "Erased"]],
                        errors: [403, 409, 429]
                    )
                ],
                "/api/auth/me": [
                    "get": operation(
                        "The signed-in user",
                        tag: "auth",
                        responses: ["200": json(ref("User"))],
                        errors: []
                    )
                ],
                "/api/broker-accounts": [
                    "get": operation(
                        "Your broker accounts",
                        tag: "accounts",
                        responses: ["200": json(ref("AccountList"))],
                        errors: []
                    ),
                    "post": operation(
                        "Add a broker account (KIS credentials are sealed, never returned)",
                        tag: "accounts",
                        body: ref("CreateAccount"),
                        responses: ["201": json(ref("Account"), "Created")],
                        errors: [422]
                    ),
                ],
                "/api/broker-accounts/{id}/kill-switch": [
                    "post": operation(
                        "The account's kill switch: every strategy off, working orders cancelled, the account halted",
                        tag: "accounts",
                        parameters: [path("id", string())],
                        body: ref("KillSwitch"),
                        responses: ["200": json(ref("KillSwitchResult"))],
                        errors: [400, 404, 422]
                    )
                ],
                "/api/operator/accounts": [
                    "get": operation(
                        "Operators: every open account, read-only (404 for anyone without the operator role)",
                        tag: "operator",
                        responses: [
                            "200": json(
                                object(["items": ["type": "array", "items": ref("OperatorAccount")], "count": integer])
                            )
                        ],
                        errors: [404]
                    )
                ],
                "/api/operator/accounts/{id}/halt": [
                    "post": operation(
                        "Operators: halt any account, with a reason its owner is shown",
                        tag: "operator",
                        parameters: [path("id", string())],
                        body: ref("Reason"),
                        responses: ["200": json(ref("Account"))],
                        errors: [400, 404, 422]
                    )
                ],
                "/api/operator/accounts/{id}/resume": [
                    "post": operation(
                        "Operators: resume any halted account (a reconciliation that agrees, as the owner's resume)",
                        tag: "operator",
                        parameters: [path("id", string())],
                        body: ref("KillSwitch"),
                        responses: ["200": json(ref("Account"))],
                        errors: [400, 404, 409, 422, 503]
                    )
                ],
                "/api/operator/orders/{id}/resubmit": [
                    "post": operation(
                        "Operators: place a REJECTED or FAILED order again for its owner (the guide's manual re-order), once",
                        tag: "operator",
                        parameters: [path("id", string())],
                        responses: [
                            "201": json(ref("Order"), "Placed again"), "200": json(ref("Order"), "Placed before"),
                        ],
                        errors: [404, 409]
                    )
                ],
                "/api/version": [
                    "get": operation(
                        "The build: version, Swift, event types, engine snapshot version",
                        tag: "system",
                        responses: [
                            "200": json(
                                object([
                                    "version": string(), "swift": string(), "eventTypes": integer,
                                    "snapshotVersion": integer,
                                ])
                            )
                        ],
                        errors: [],
                        secured: false
                    )
                ],
                "/api/operator/trading": [
                    "get": operation(
                        "Operators: whether trading is halted for every account",
                        tag: "operator",
                        responses: ["200": json(ref("Trading"))],
                        errors: [404]
                    )
                ],
                "/api/operator/trading/halt": [
                    "post": operation(
                        "Operators: the global kill switch (every account refuses new orders)",
                        tag: "operator",
                        body: ref("Reason"),
                        responses: ["200": json(ref("Trading"))],
                        errors: [400, 404, 422]
                    )
                ],
                "/api/operator/trading/resume": [
                    "post": operation(
                        "Operators: end the global halt",
                        tag: "operator",
                        body: ref("Reason"),
                        responses: ["200": json(ref("Trading"))],
                        errors: [400, 404, 422]
                    )
                ],
                "/api/broker-accounts/{id}/resume": [
                    "post": operation(
                        "Resume a halted account once its books agree with the broker's (a KIS account is reconciled now)",
                        tag: "accounts",
                        parameters: [path("id", string())],
                        body: ref("KillSwitch"),
                        responses: ["200": json(ref("Account"))],
                        errors: [400, 404, 409, 422, 503]
                    )
                ],
                "/api/broker-accounts/{id}/credentials": [
                    "put": operation(
                        "Replace a KIS account's app key and secret (sealed; the old key's token is dropped)",
                        tag: "accounts",
                        parameters: [path("id", string())],
                        body: ref("ReplaceCredentials"),
                        responses: ["200": json(ref("Account"))],
                        errors: [400, 404, 409, 422]
                    )
                ],
                "/api/broker-accounts/{id}": [
                    "get": operation(
                        "One of your accounts",
                        tag: "accounts",
                        parameters: [path("id", string())],
                        responses: ["200": json(ref("Account"))],
                        errors: [404]
                    ),
                    "delete": operation(
                        "Close an account (no working orders or shares)",
                        tag: "accounts",
                        parameters: [path("id", string())],
                        responses: ["204": ["description": "Closed"]],
                        errors: [404, 409]
                    ),
                ],
                "/api/orders": [
                    "get": operation(
                        "Your orders, newest first",
                        tag: "orders",
                        parameters: [
                            query(
                                "status",
                                string(values: [
                                    "PENDING", "SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "CANCEL_REQUESTED",
                                    "FILLED", "CANCELLED", "REJECTED", "FAILED", "EXPIRED",
                                ]),
                                "Only this status"
                            ),
                            query("stockId", stockID, "Only this stock"),
                            query("brokerAccountId", string(), "Only this account"),
                            query("limit", limit(1000), "At most this many (1…1000)"),
                        ],
                        responses: ["200": json(ref("OrderList"))],
                        errors: [400, 404]
                    ),
                    "post": operation(
                        "Place an order (risk-checked; a refusal is an order in REJECTED with its reason)",
                        tag: "orders",
                        body: ref("PlaceOrder"),
                        responses: [
                            "201": json(ref("Order"), "Recorded"),
                            "200": json(ref("Order"), "The same Idempotency-Key again: the order placed before"),
                        ],
                        errors: [404, 422, 429, 503],
                        headers: [
                            [
                                "name": "Idempotency-Key", "in": "header", "required": false,
                                "schema": string(pattern: "^[!-~]{1,64}$"),
                                "description": "Retries with the same key place the order once",
                            ]
                        ]
                    ),
                ],
                "/api/orders/{id}": [
                    "get": operation(
                        "One of your orders",
                        tag: "orders",
                        parameters: [path("id", string())],
                        responses: ["200": json(ref("Order"))],
                        errors: [404]
                    )
                ],
                "/api/orders/{id}/cancel": [
                    "post": operation(
                        "Cancel an order",
                        tag: "orders",
                        parameters: [path("id", string())],
                        responses: ["200": json(ref("Order"))],
                        errors: [404, 409]
                    )
                ],
                "/api/orders/{id}/audit": [
                    "get": operation(
                        "The order's lifecycle from the log, with frame checks",
                        tag: "orders",
                        parameters: [path("id", string())],
                        responses: ["200": json(ref("Audit"))],
                        errors: [404]
                    )
                ],
                "/api/portfolio": [
                    "get": operation(
                        "Cash, positions and P&L, now or as of a past time",
                        tag: "portfolio",
                        parameters: [
                            query("brokerAccountId", string(), "Only this account"),
                            query("asOf", time, "Replay to this time"),
                        ],
                        responses: ["200": json(ref("PortfolioList"))],
                        errors: [400, 404]
                    )
                ],
                "/api/market-data/stocks": [
                    "get": operation(
                        "Listed stocks",
                        tag: "market-data",
                        responses: ["200": json(ref("StockList"))],
                        errors: []
                    )
                ],
                "/api/market-data/stocks/{stockId}": [
                    "get": operation(
                        "One stock",
                        tag: "market-data",
                        parameters: [path("stockId", stockID)],
                        responses: ["200": json(ref("Stock"))],
                        errors: [400, 404]
                    )
                ],
                "/api/market-data/stocks/{stockId}/candles": [
                    "get": operation(
                        "Candles, oldest first",
                        tag: "market-data",
                        parameters: [
                            path("stockId", stockID), query("timeframe", timeframe, "Default 1m"),
                            query("from", time, "Inclusive"), query("to", time, "Exclusive"),
                            query("limit", limit(5000), "The most recent this many (1…5000)"),
                        ],
                        responses: ["200": json(ref("Candles"))],
                        errors: [400, 404]
                    )
                ],
                "/api/market-data/stocks/{stockId}/indicators": [
                    "get": operation(
                        "Indicators computed by the engine's code",
                        tag: "market-data",
                        parameters: [
                            path("stockId", stockID), query("timeframe", timeframe, "Default 1m"),
                            query("from", time, "Inclusive"), query("to", time, "Exclusive"),
                            query("names", string("Comma-separated: sma_5,rsi_14,…"), "Default all"),
                            query("limit", limit(2000), "The most recent this many rows (1…2000)"),
                        ],
                        responses: ["200": json(ref("Indicators"))],
                        errors: [400, 404]
                    )
                ],
                "/api/market-data/stocks/{stockId}/quote": [
                    "get": operation(
                        "Latest price and the daily band",
                        tag: "market-data",
                        parameters: [path("stockId", stockID)],
                        responses: ["200": json(ref("Quote"))],
                        errors: [400, 404]
                    )
                ],
                "/api/market-data/kis/token-status": [
                    "get": operation(
                        "KIS access-token state (counts; your accounts with a token)",
                        tag: "market-data",
                        responses: ["200": json(ref("TokenStatus"))],
                        errors: [401],
                        secured: false
                    )
                ],
                "/api/trades": [
                    "get": operation(
                        "Your trades (the guide's trades table)",
                        tag: "trades",
                        parameters: [
                            query(
                                "status",
                                string(values: [
                                    "PENDING", "SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "CANCEL_REQUESTED",
                                    "FILLED", "CANCELLED", "REJECTED", "FAILED", "EXPIRED",
                                ]),
                                "Only this status"
                            ), query("limit", limit(1000), "At most this many (1…1000)"),
                        ],
                        responses: ["200": json(ref("TradeList"))],
                        errors: [400]
                    )
                ],
                "/api/trades/test": [
                    "post": operation(
                        "Check that an account could trade a stock now, without ordering",
                        tag: "trades",
                        body: ref("TradeTest"),
                        responses: ["200": json(ref("TradeTestResult"))],
                        errors: [404]
                    )
                ],
                "/api/notifications": [
                    "get": operation(
                        "Your notifications, newest first",
                        tag: "notifications",
                        parameters: [
                            query("unread", string(values: ["true", "false"]), "Only unread (true) or read (false)"),
                            query("limit", limit(1000), "At most this many (1…1000)"),
                        ],
                        responses: ["200": json(ref("NotificationList"))],
                        errors: [400]
                    )
                ],
                "/api/notifications/{id}/read": [
                    "post": operation(
                        "Mark a notification read",
                        tag: "notifications",
                        parameters: [path("id", string())],
                        responses: ["204": ["description": "Read"]],
                        errors: [404]
                    )
                ],
                "/api/backtests": [
                    "get": operation(
                        "Your backtests",
                        tag: "backtests",
                        responses: ["200": json(ref("BacktestList"))],
                        errors: []
                    ),
                    "post": operation(
                        "Run a backtest on recorded candles",
                        tag: "backtests",
                        body: ref("BacktestRequest"),
                        responses: ["201": json(ref("Backtest"), "Done")],
                        errors: [404, 422]
                    ),
                ],
                "/api/backtests/{id}/report": [
                    "get": operation(
                        "The data behind a backtest's report page: equity, buy-and-hold, drawdown, monthly returns, trades, the chart's bars",
                        tag: "backtests",
                        parameters: [path("id", string())],
                        responses: ["200": json(["type": "object"])],
                        errors: [404, 409]
                    )
                ],
                "/api/backtests/{id}": [
                    "get": operation(
                        "One backtest and its report",
                        tag: "backtests",
                        parameters: [path("id", string())],
                        responses: ["200": json(ref("Backtest"))],
                        errors: [404]
                    )
                ],
                "/api/stream": [
                    "get": operation(
                        "Your events as Server-Sent Events; id = log offset (resume with Last-Event-ID or ?from=)",
                        tag: "stream",
                        parameters: [
                            query(
                                "from",
                                ["type": "integer", "minimum": 0, "maximum": 9_007_199_254_740_991],
                                "Log offset to start at (default: now)"
                            )
                        ],
                        responses: [
                            "200": [
                                "description":
                                    "text/event-stream: `id:` offset, `event:` type, `data:` the event as JSON"
                            ]
                        ],
                        errors: [400],
                        headers: [
                            [
                                "name": "Last-Event-ID", "in": "header", "required": false,
                                "schema": string(pattern: "^[0-9]+$"),
                            ]
                        ]
                    )
                ],
                "/api/strategies": [
                    "get": operation(
                        "Your live strategies",
                        tag: "strategies",
                        responses: ["200": json(ref("StrategyList"))],
                        errors: []
                    ),
                    "post": operation(
                        "Enable a strategy on an account and stock (the worker runs it on each closed 1-minute bar)",
                        tag: "strategies",
                        body: ref("StrategyRequest"),
                        responses: ["201": json(ref("Strategy"), "Enabled")],
                        errors: [404, 409, 422]
                    ),
                ],
                "/api/strategies/rules": [
                    "get": operation(
                        "Your rule sets (strategies as data), every version",
                        tag: "strategies",
                        responses: ["200": json(ref("RuleSetList"))],
                        errors: []
                    ),
                    "post": operation(
                        "Store a rule set as the next version of one of yours (enable it as rule:<name>)",
                        tag: "strategies",
                        body: ref("RuleSetRequest"),
                        responses: [
                            "201": json(ref("RuleCheck"), "Stored as a new version"),
                            "200": json(ref("RuleCheck"), "The same as the newest version: nothing stored"),
                        ],
                        errors: [409, 422]
                    ),
                ],
                "/api/strategies/rules/check": [
                    "post": operation(
                        "Check a rule set without storing it (a mistake: 422 with its line and column)",
                        tag: "strategies",
                        body: ref("RuleSourceRequest"),
                        responses: ["200": json(ref("RuleCheck"))],
                        errors: [422]
                    )
                ],
                "/api/strategies/disable": [
                    "post": operation(
                        "Disable a strategy",
                        tag: "strategies",
                        body: ref("StrategyRequest"),
                        responses: ["204": ["description": "Disabled"]],
                        errors: [404, 422]
                    )
                ],
                "/api/triggers": [
                    "post": operation(
                        "Arm a stop-loss, take-profit or trailing stop the engine watches",
                        tag: "triggers",
                        body: ref("TriggerRequest"),
                        responses: ["201": json(ref("Trigger"), "Armed")],
                        errors: [400, 404, 409, 422]
                    ),
                    "get": operation(
                        "Your triggers, newest first",
                        tag: "triggers",
                        parameters: [query("limit", limit(1000), "At most this many (1…1000, default 100)")],
                        responses: ["200": json(ref("TriggerList"))],
                        errors: [400]
                    ),
                ],
                "/api/triggers/{id}/cancel": [
                    "post": operation(
                        "Cancel an armed trigger",
                        tag: "triggers",
                        parameters: [path("id", string())],
                        responses: ["200": json(ref("Trigger"))],
                        errors: [404, 409]
                    )
                ],
                "/internal/commands": [
                    "post": operation(
                        "Worker only (worker token): record job outcomes as engine commands",
                        tag: "internal",
                        body: object(
                            [
                                "commands": [
                                    "type": "array", "maxItems": 1000,
                                    "items": [
                                        "type": "object",
                                        "description":
                                            "One WireCommand, e.g. {\"accepted\":{\"order\":\"ord-0000000001\",\"brokerOrderNumber\":\"0001569157\"}}",
                                    ],
                                ],
                                "correlation": string(pattern: "^[A-Za-z0-9-]{1,64}$"),
                            ],
                            required: ["commands"]
                        ),
                        responses: [
                            "200": json(
                                object([
                                    "results": [
                                        "type": "array",
                                        "items": object(
                                            [
                                                "status": integer, "offsets": ["type": "array", "items": integer],
                                                "error": nullable(string()),
                                            ],
                                            required: ["status", "offsets"]
                                        ),
                                    ]
                                ])
                            )
                        ],
                        errors: []
                    )
                ],
                "/internal/accounts": [
                    "get": operation(
                        "Worker only (worker token): KIS accounts with cash, shares and token state, for reconciliation",
                        tag: "internal",
                        responses: [
                            "200": json(
                                object([
                                    "accounts": [
                                        "type": "array",
                                        "items": ["type": "object", "description": "WorkerAccountView"],
                                    ]
                                ])
                            )
                        ],
                        errors: []
                    )
                ],
                "/internal/stocks": [
                    "get": operation(
                        "Worker only (worker token): listed stocks with their latest minute and the KIS accounts trading them, for data collection",
                        tag: "internal",
                        parameters: [
                            query(
                                "stockId",
                                string(
                                    "Six-digit KRX codes, comma-separated (at most 100)",
                                    pattern: "^[0-9]{6}(,[0-9]{6}){0,99}$"
                                ),
                                "Only these stocks"
                            )
                        ],
                        responses: [
                            "200": json(
                                object([
                                    "stocks": [
                                        "type": "array", "items": ["type": "object", "description": "WorkerStockView"],
                                    ]
                                ])
                            )
                        ],
                        errors: [400]
                    )
                ],
                "/internal/strategies": [
                    "get": operation(
                        "Worker only (worker token): strategies enabled (on a stock, or on any) with the positions they trade",
                        tag: "internal",
                        parameters: [
                            query("stockId", stockID, "Only this stock (absent: every stock)")
                        ],
                        responses: [
                            "200": json(
                                object([
                                    "strategies": [
                                        "type": "array",
                                        "items": ["type": "object", "description": "WorkerStrategyView"],
                                    ]
                                ])
                            )
                        ],
                        errors: [400]
                    )
                ],
                "/internal/candles": [
                    "get": operation(
                        "Worker only (worker token): one-minute candles of a stock, oldest first",
                        tag: "internal",
                        parameters: [
                            query("stockId", stockID, "The stock"), query("to", time, "Exclusive"),
                            query("limit", limit(5000), "The most recent this many (1…5000)"),
                        ],
                        responses: ["200": json(ref("Candles"))],
                        errors: [400]
                    ),
                    "post": Self.csv(
                        operation(
                            "Worker only (worker token): record collected candles, one CSV line each: stock,timeframe,start (µs since the epoch),open,high,low,close,volume",
                            tag: "internal",
                            parameters: [
                                query(
                                    "correlation",
                                    string(pattern: "^[A-Za-z0-9-]{1,64}$"),
                                    "The events' correlation id (default collect)"
                                )
                            ],
                            body: string(),
                            responses: [
                                "200": json(
                                    object(
                                        [
                                            "recorded": integer,
                                            "refused": [
                                                "type": "array",
                                                "items": object(
                                                    ["line": integer, "status": integer, "error": string()],
                                                    required: ["line", "status", "error"]
                                                ),
                                            ],
                                        ],
                                        required: ["recorded", "refused"]
                                    )
                                )
                            ],
                            errors: [422]
                        )
                    ),
                ],
                "/internal/notifications/{id}": [
                    "get": operation(
                        "Worker only (worker token): a notification to deliver, its recipient and text from the engine",
                        tag: "internal",
                        parameters: [
                            path("id", string()),
                            [
                                "name": "offset", "in": "query", "required": true,
                                "schema": ["type": "integer", "minimum": 0],
                            ],
                        ],
                        responses: ["200": json(["type": "object"])],
                        errors: [400, 404]
                    )
                ],
                "/internal/users/{id}/erase": [
                    "post": operation(
                        "Worker token, internal clients only: an operator erases a person on request",
                        tag: "internal",
                        parameters: [path("id", string())],
                        responses: ["204": ["description": "Erased"]],
                        errors: [400, 404, 409]
                    )
                ],
                "/internal/orders/{id}": [
                    "get": operation(
                        "Worker only (worker token): an order as the engine knows it",
                        tag: "internal",
                        parameters: [path("id", string())],
                        responses: [
                            "200": json(["type": "object", "description": "WorkerOrderView"])
                        ],
                        errors: [404]
                    )
                ],
            ] as [String: Any],
        ]
    }
}
