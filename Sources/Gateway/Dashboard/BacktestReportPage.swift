public import Engine
import Foundation

/// A backtest's report as a page a person reads and the JSON behind it: summary figures, the equity curve
/// against buy-and-hold, the drawdown, the trades on the price chart (drawn by `/assets/report.js` with the
/// vendored chart library), monthly returns and the trade list (plain tables: readable without script).
public enum BacktestReportPage {
    /// Where the page finds its script, style and chart library: the gateway's paths, or files beside it.
    public struct Assets: Sendable {
        public var chartLibrary: String
        public var script: String
        public var style: String
        public static let gateway = Assets(
            chartLibrary: "/assets/vendor/lightweight-charts.js",
            script: "/assets/report.js",
            style: "/assets/dashboard.css"
        )
        public static let beside = Assets(
            chartLibrary: "lightweight-charts.js",
            script: "report.js",
            style: "report.css"
        )
    }

    /// The files a standalone report writes beside report.html.
    public static let script = Scripts.report
    public static let style = Scripts.style

    /// Chart times: KST wall-clock seconds (the chart library shows them as UTC).
    static func chartTime(_ micros: Int64) -> Int64 { (micros + KST.offsetMicros) / 1_000_000 }

    static func date(_ day: Int64) -> String {
        let d = KST.date(day: day)
        return String(format: "%04d-%02d-%02d", d.year, d.month, d.day)
    }

    /// Monthly returns as a year per row, a month per column (empty before the first and after the last).
    static func years(_ months: [BacktestDocument.Month], percent: (Double) -> String) -> [[String: Any]] {
        var years: [String: [Int: Double]] = [:]
        for month in months {
            let parts = month.month.split(separator: "-")
            guard parts.count == 2, let number = Int(parts[1]) else { continue }
            years[String(parts[0]), default: [:]][number] = month.returnPercent
        }
        return years.keys.sorted().map { year in
            [
                "year": year,
                "cells": (1...12).map { number -> [String: Any] in
                    guard let value = years[year]?[number] else { return ["value": "", "negative": false] }
                    return ["value": percent(value), "negative": value < 0]
                },
            ]
        }
    }

    /// The JSON document (`report.json`, `GET /api/backtests/{id}/report`).
    public static func json(_ document: BacktestDocument) -> String {
        let s = document.summary
        func points(_ list: [BacktestDocument.Point]) -> [[String: Any]] {
            list.map { ["time": Self.date($0.day), "value": $0.value.isFinite ? $0.value : 0] }
        }
        let finalHold = document.buyAndHold.last?.value ?? Double(s.initialEquity)
        let object: [String: Any] = [
            "summary": [
                "strategy": s.strategy, "bars": s.bars, "events": Int(s.events), "fills": s.fills,
                "roundTrips": s.roundTrips, "winRatePercent": s.winRatePercent, "initialEquity": Int(s.initialEquity),
                "finalEquity": Int(s.finalEquity), "returnPercent": s.returnPercent,
                "buyAndHoldReturnPercent": s.initialEquity > 0 ? (finalHold / Double(s.initialEquity) - 1) * 100 : 0,
                "maxDrawdownPercent": s.maxDrawdownPercent, "sharpeRatio": s.sharpeRatio.isFinite ? s.sharpeRatio : 0,
                "commission": Int(s.commission), "tax": Int(s.tax), "realizedProfit": Int(s.realizedProfit),
            ],
            "equity": points(document.equity), "buyAndHold": points(document.buyAndHold),
            "drawdown": points(document.drawdown),
            "monthly": document.monthly.map { ["month": $0.month, "returnPercent": $0.returnPercent] },
            "trades": document.trades.map {
                [
                    "order": $0.order.description, "time": ISOTime.kst($0.time), "chartTime": Self.chartTime($0.time),
                    "stock": $0.stock.description, "side": $0.side.description, "quantity": Int($0.quantity),
                    "price": Int($0.price), "source": $0.source.description, "status": $0.status.description,
                ] as [String: Any]
            },
            "chart": [
                "stock": document.chartStock?.description ?? "",
                "bars": document.chartBars.map {
                    [
                        "time": Self.chartTime($0.start), "open": Int($0.open), "high": Int($0.high),
                        "low": Int($0.low), "close": Int($0.close),
                    ]
                },
            ] as [String: Any],
        ]
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
            preconditionFailure("a report's values are finite numbers and strings")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// The page. Its data rides in an attribute (escaped like any text), never as inline script.
    public static func html(_ document: BacktestDocument, assets: Assets = .gateway, english: Bool = false) -> String {
        Self.html(document, assets: assets, words: Words(language: english ? .english : .korean))
    }

    static func html(_ document: BacktestDocument, assets: Assets, words: Words) -> String {
        let s = document.summary
        let percent = { (value: Double) in String(format: "%.2f%%", value) }
        let hold =
            document.buyAndHold.last.map { s.initialEquity > 0 ? ($0.value / Double(s.initialEquity) - 1) * 100 : 0 }
            ?? 0
        let view: [String: Any] = [
            "lang": words.language.rawValue, "title": "\(words["backtestReport"]) · \(s.strategy)", "t": words.table,
            "strategy": s.strategy, "json": Self.json(document),
            "assets": [
                "chart": assets.chartLibrary, "script": assets.script, "style": assets.style,
            ],
            "figures": [
                [words["returnLabel"], percent(s.returnPercent)], [words["buyAndHold"], percent(hold)],
                [words["maxDrawdown"], percent(s.maxDrawdownPercent)],
                ["Sharpe", String(format: "%.2f", s.sharpeRatio.isFinite ? s.sharpeRatio : 0)],
                [words["roundTrips"], "\(s.roundTrips)"], [words["winRate"], percent(s.winRatePercent)],
                [words["equity"], "\(words.won(s.initialEquity)) → \(words.won(s.finalEquity))"],
                [words["fees"], "\(words.won(s.commission)) + \(words.won(s.tax))"], [words["bars"], "\(s.bars)"],
            ].map { ["name": $0[0], "value": $0[1]] },
            "years": Self.years(document.monthly, percent: percent),
            "months": (1...12).map { "\($0)" },
            "trades": document.trades.reversed().map {
                [
                    "time": ISOTime.kst($0.time), "stock": $0.stock.description, "side": $0.side.description,
                    "quantity": "\($0.quantity)", "price": words.won($0.price), "source": $0.source.description,
                ]
            },
            "chartStock": document.chartStock?.description ?? "",
        ]
        return Templates.render(view, "backtestReport")
    }
}
