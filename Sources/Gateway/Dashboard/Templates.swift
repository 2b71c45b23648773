import Mustache

/// The pages' Mustache templates. `{{value}}` escapes (`& < > " '`), so every user-supplied string a page shows
/// (e-mails, names, client order ids, strategy parameters, notification texts, reasons) is text, never markup;
/// no template uses the unescaped `{{{…}}}`. The dashboard's live sections are partials, so a page and its
/// refresh render the same markup.
enum Templates {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in Self.sources {
            do { try library.register(text, named: name) } catch {
                preconditionFailure("template \(name) does not parse: \(error)")
            }
        }
        return library
    }()

    static func render(_ object: Any, _ name: String) -> String {
        guard let text = Self.library.render(object, withTemplate: name) else {
            preconditionFailure("no template \(name)")
        }
        return text
    }

    static let sources: [String: String] = [
        "backtestReport": """
        <!doctype html><html lang="{{lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
        <title>StockBoom — {{title}}</title><link rel="stylesheet" href="{{assets.style}}">
        <script src="{{assets.chart}}" defer></script><script src="{{assets.script}}" defer></script></head>
        <body><main><section id="summary" class="wide"><h1>{{t.backtestReport}} · {{strategy}}</h1>
        <table class="figures">{{#figures}}<tr><th>{{name}}</th><td>{{value}}</td></tr>{{/figures}}</table>
        <div id="report-data" hidden data-json="{{json}}"></div><p id="charts-missing" hidden>{{t.noChartLibrary}}</p></section>
        <section class="wide"><h2>{{t.equityCurve}}</h2><div id="equity-chart" class="chart"></div></section>
        <section class="wide"><h2>{{t.drawdown}}</h2><div id="drawdown-chart" class="chart small"></div></section>
        <section class="wide"><h2>{{t.priceChart}} · {{chartStock}}</h2><div id="price-chart" class="chart"></div></section>
        <section class="wide"><h2>{{t.monthlyReturns}}</h2><table id="monthly"><tr><th></th>{{#months}}<th>{{.}}</th>{{/months}}</tr>
        {{#years}}<tr><th>{{year}}</th>{{#cells}}<td class="{{#negative}}down{{/negative}}">{{value}}</td>{{/cells}}</tr>{{/years}}</table></section>
        <section class="wide"><h2>{{t.tradeList}}</h2><table id="trades"><tr><th>{{t.time}}</th><th>{{t.stock}}</th><th>{{t.side}}</th><th>{{t.quantity}}</th><th>{{t.price}}</th><th>{{t.source}}</th></tr>
        {{#trades}}<tr><td>{{time}}</td><td>{{stock}}</td><td>{{side}}</td><td>{{quantity}}</td><td>{{price}}</td><td>{{source}}</td></tr>{{/trades}}</table></section>
        </main></body></html>
        """,
        "head": """
        <!doctype html><html lang="{{lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
        <title>StockBoom — {{title}}</title><link rel="stylesheet" href="/assets/dashboard.css"><meta name="csrf-token" content="{{csrf}}">
        """,
        "header": """
        <header><a class="brand" href="/">StockBoom</a><nav><a href="/docs">{{t.docs}}</a> <a href="?lang={{otherLanguage}}" id="language">{{t.otherLanguage}}</a>
        {{#email}}<span id="live" class="live" data-offline="{{t.offline}}">●</span> <span>{{email}}</span> <form class="inline" method="post" action="/logout"><input type="hidden" name="csrf" value="{{csrf}}"><button>{{t.signOut}}</button></form>{{/email}}</nav></header>
        """,
        "signIn": """
        {{> head}}</head><body>{{> header}}<main class="narrow"><section id="signin"><h1>{{t.signIn}}</h1>
        {{#error}}<p role="alert" class="error">{{t.wrongPassword}}</p>{{/error}}
        <form method="post" action="/login"><input type="hidden" name="csrf" value="{{csrf}}"><p><label>{{t.email}} <input name="email" type="email" required autocomplete="username"></label></p>
        <p><label>{{t.password}} <input name="password" type="password" required autocomplete="current-password"></label></p><p><button type="submit" id="signin-button">{{t.signIn}}</button></p></form>
        <p class="tl">{{t.noAccountYet}} <code>POST /api/auth/register</code> (<a href="/docs">{{t.docs}}</a>)</p></section></main></body></html>
        """,
        "dashboard": """
        {{> head}}<script src="/assets/vendor/lightweight-charts.js" defer></script><script src="/assets/dashboard.js" defer></script></head>
        <body data-stock="{{stock}}" data-event-types="{{eventTypes}}" data-lang="{{lang}}">{{> header}}<main>
        <section id="portfolio" data-live>{{> portfolio}}</section>
        <section id="trade">{{> trade}}</section>
        <section id="orders" class="wide" data-live>{{> orders}}</section>
        <section id="chart" class="wide">{{> chart}}</section>
        <section id="strategies">{{> strategies}}</section>
        <section id="notifications" data-live>{{> notifications}}</section>
        {{#system}}<section id="system" data-live>{{> system}}</section>{{/system}}
        </main></body></html>
        """,
        "accountView": """
        {{> head}}<script src="/assets/dashboard.js" defer></script></head><body data-lang="{{lang}}">{{> header}}<main><section id="read-only" class="wide"><p><a href="/">{{t.back}}</a></p><h1>{{t.operator}} · {{t.readOnlyView}}: {{readOnly}}</h1></section>
        <section id="portfolio" data-live>{{> portfolio}}</section><section id="strategies">{{> strategies}}</section>
        <section id="orders" class="wide" data-live>{{> orders}}</section><p id="order-result" role="status"></p></main></body></html>
        """,
        "portfolio": """
        <h2>{{t.portfolio}}</h2>{{^accounts}}<p>{{t.noAccounts}} (<code>POST /api/broker-accounts</code>)</p>{{/accounts}}
        {{#accounts}}<div class="account" id="account-{{id}}"><h3>{{id}} · {{broker}} {{number}}</h3>
        <div class="scroll"><table class="figures"><tr><th>{{t.cash}}</th><th>{{t.reserved}}</th><th>{{t.marketValue}}</th><th>{{t.equity}}</th><th>{{t.profit}}</th></tr>
        <tr><td>{{cash}}</td><td>{{reserved}}</td><td>{{marketValue}}</td><td>{{equity}}</td><td class="{{profitClass}}">{{profit}}</td></tr></table></div>
        {{#haltReason}}<p class="halted" id="halted-{{id}}">{{t.halted}}: {{haltReason}}</p>{{^readOnly}}<button class="js" data-resume="{{id}}">{{t.resume}}</button>{{/readOnly}}{{/haltReason}}
        {{^readOnly}}{{^haltReason}}<form class="inline kill" method="post" action="/kill-switch"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="account" value="{{id}}"><label><input type="checkbox" name="confirm" value="yes" required> {{t.confirm}}</label> <button id="kill-{{id}}" class="danger">{{t.killSwitch}}</button></form>{{/haltReason}}{{/readOnly}}
        {{^empty(holdings)}}<div class="scroll"><table><tr><th>{{t.stock}}</th><th>{{t.quantity}}</th><th>{{t.average}}</th><th>{{t.last}}</th><th>{{t.unrealized}}</th></tr>
        {{#holdings}}<tr><td><a href="?stock={{code}}">{{code}}</a> {{name}}</td><td>{{quantity}}</td><td>{{average}}</td><td>{{last}}</td><td class="{{profitClass}}">{{unrealized}}</td></tr>{{/holdings}}</table></div>{{/empty(holdings)}}
        </div>{{/accounts}}
        """,
        "trade": """
        <h2>{{t.trade}}</h2><noscript><p class="tl">JavaScript: POST /api/orders</p></noscript>
        <form id="order-form" autocomplete="off"><div class="grid">
        <label>{{t.account}} <select name="brokerAccountId" required>{{#accounts}}<option value="{{id}}">{{id}} {{number}}</option>{{/accounts}}</select></label>
        <label>{{t.stock}} <input name="stockId" value="{{stock}}" required pattern="[0-9]{6}" maxlength="6" inputmode="numeric"></label>
        <label>{{t.side}} <select name="side"><option value="BUY">{{t.buy}}</option><option value="SELL">{{t.sell}}</option></select></label>
        <label>{{t.orderType}} <select name="type"><option value="LIMIT">{{t.limit}}</option><option value="MARKET">{{t.market}}</option></select></label>
        <label>{{t.quantity}} <input name="quantity" type="number" min="1" step="1" value="1" required></label>
        <label>{{t.price}} <input name="price" type="number" min="1" step="1"></label></div>
        <p id="order-rules" class="tl" data-tick="{{t.tickRule}}" data-band="{{t.band}}"></p>
        <p><button id="order-send" type="submit">{{t.send}}</button></p><p id="order-result" role="status"></p></form>
        <h3>{{t.triggers}}</h3><form id="trigger-form" class="grid" autocomplete="off">
        <label>{{t.account}} <select name="brokerAccountId">{{#accounts}}<option value="{{id}}">{{id}}</option>{{/accounts}}</select></label>
        <label>{{t.stock}} <input name="stockId" value="{{stock}}" pattern="[0-9]{6}" maxlength="6" required></label>
        <label>{{t.kind}} <select name="kind">{{#triggerKinds}}<option value="{{.}}">{{.}}</option>{{/triggerKinds}}</select></label>
        <label>{{t.quantity}} <input name="quantity" type="number" min="1" step="1" value="1" required></label>
        <label>{{t.triggerLevel}} <input name="triggerPrice" type="number" min="1" step="1"></label>
        <label>{{t.trailPercent}} <input name="trailPercent" type="number" min="0.1" max="50" step="0.1"></label>
        <label>{{t.exitLimit}} <input name="limitPrice" type="number" min="1" step="1"></label>
        <button type="submit" id="trigger-arm">{{t.arm}}</button></form><p id="trigger-result" role="status"></p>
        <div id="triggers-live" data-live>{{^triggers}}<p class="tl">{{t.noTriggers}}</p>{{/triggers}}{{^empty(triggers)}}<div class="scroll"><table id="trigger-list"><tr><th>id</th><th>{{t.stock}}</th><th>{{t.kind}}</th><th>{{t.side}}</th><th>{{t.quantity}}</th><th>{{t.triggerLevel}}</th><th>{{t.status}}</th><th></th></tr>
        {{#triggers}}<tr id="trigger-{{id}}" data-status="{{statusName}}"><td>{{id}}</td><td>{{stock}} {{stockName}}</td><td>{{kind}}</td><td>{{side}}</td><td>{{quantity}}</td><td>{{level}}</td><td>{{status}}{{#order}} → <a href="/orders/{{order}}">{{order}}</a>{{/order}}{{#reason}} <span class="tl">{{reason}}</span>{{/reason}}</td><td>{{#cancellable}}<button class="js" data-cancel-trigger="{{id}}">{{t.cancel}}</button>{{/cancellable}}</td></tr>{{/triggers}}</table></div>{{/empty(triggers)}}</div>
        """,
        "orders": """
        <h2>{{t.orders}}</h2><h3>{{t.open}}</h3>{{^open}}<p class="tl">{{t.none}}</p>{{/open}}
        {{^empty(open)}}<div class="scroll"><table id="open-orders">{{> orderHead}}{{#open}}{{> orderRow}}{{/open}}</table></div>{{/empty(open)}}
        <h3>{{t.past}} <span class="tl">{{pastRange}}</span></h3>{{^past}}<p class="tl">{{t.none}}</p>{{/past}}
        {{^empty(past)}}<div class="scroll"><table id="past-orders">{{> orderHead}}{{#past}}{{> orderRow}}{{/past}}</table></div>{{/empty(past)}}
        <p class="pager">{{#newerPage}}<a href="?page={{newerPage}}#orders">{{t.newer}}</a>{{/newerPage}} {{#olderPage}}<a href="?page={{olderPage}}#orders" id="older">{{t.older}}</a>{{/olderPage}}</p>
        """,
        "orderHead": """
        <tr><th>{{t.order}}</th><th>{{t.time}}</th><th>{{t.stock}}</th><th>{{t.side}}</th><th>{{t.quantity}}</th><th>{{t.price}}</th><th>{{t.status}}</th><th></th></tr>
        """,
        "orderRow": """
        <tr id="order-{{id}}" data-status="{{statusName}}"><td><a href="/orders/{{id}}">{{id}}</a>{{#clientOrderID}}<br><span class="tl">{{clientOrderID}}</span>{{/clientOrderID}}</td><td>{{time}}</td><td>{{stock}} {{stockName}}</td><td class="{{sideClass}}">{{side}}</td><td>{{filled}}</td><td>{{price}}</td><td>{{status}}{{#failure}} <span class="tl">({{failure}})</span>{{/failure}}</td>
        <td>{{^readOnly}}{{#cancellable}}<button class="js" data-cancel="{{id}}">{{t.cancel}}</button>{{/cancellable}}{{/readOnly}}{{#resubmittable}}<button class="js" data-resubmit="{{id}}">{{t.resubmit}}</button>{{/resubmittable}}</td></tr>{{#timeline}}<tr class="tl"><td colspan="8">{{timeline}}</td></tr>{{/timeline}}
        """,
        "chart": """
        <h2>{{t.chart}} <span id="chart-title">{{stock}} {{stockName}}</span></h2>
        <div class="controls"><span>{{t.timeframe}}:</span>{{#timeframes}} <button class="js tf" data-timeframe="{{.}}">{{.}}</button>{{/timeframes}}
        <span>{{t.indicators}}:</span>{{#indicators}} <label><input type="checkbox" class="indicator" value="{{name}}"{{#on}} checked{{/on}}> {{name}}</label>{{/indicators}}</div>
        <div id="chart-box" data-missing="{{t.noChartLibrary}}" data-fills="{{t.fills}}" data-buy="{{t.buy}}" data-sell="{{t.sell}}"></div><p id="chart-status" class="tl"></p>
        """,
        "strategies": """
        <h2>{{t.strategies}}</h2><div id="strategies-live" data-live>{{^strategies}}<p class="tl">{{t.noStrategies}}</p>{{/strategies}}
        {{^empty(strategies)}}<div class="scroll"><table id="strategy-list"><tr><th>{{t.account}}</th><th>{{t.stock}}</th><th>{{t.strategy}}</th><th>{{t.parameters}}</th><th></th></tr>
        {{#strategies}}<tr><td>{{account}}</td><td>{{stock}}</td><td>{{strategy}}</td><td><code>{{parameters}}</code></td><td>{{^readOnly}}<button class="js" data-disable-account="{{account}}" data-disable-stock="{{stock}}" data-disable-strategy="{{strategy}}">{{t.disable}}</button>{{/readOnly}}</td></tr>{{/strategies}}</table></div>{{/empty(strategies)}}</div>
        {{^readOnly}}<form id="strategy-form" class="grid"><label>{{t.account}} <select name="brokerAccountId">{{#accounts}}<option value="{{id}}">{{id}}</option>{{/accounts}}</select></label>
        <label>{{t.stock}} <input name="stockId" value="{{stock}}" pattern="[0-9]{6}" maxlength="6" required></label>
        <label>{{t.strategy}} <select name="strategy">{{#strategyNames}}<option>{{.}}</option>{{/strategyNames}}</select></label>
        <label>{{t.parameters}} <input name="parameters" placeholder="fast=5,slow=20,quantity=1" maxlength="200"></label>
        <button type="submit" id="strategy-enable">{{t.enable}}</button></form><p id="strategy-result" role="status"></p>
        <h3>{{t.ruleSets}}</h3><div id="rulesets-live" data-live>{{^ruleSets}}<p class="tl">{{t.noRuleSets}}</p>{{/ruleSets}}
        {{^empty(ruleSets)}}<div class="scroll"><table id="ruleset-list"><tr><th>{{t.strategy}}</th><th>{{t.version}}</th><th></th></tr>
        {{#ruleSets}}<tr id="ruleset-{{name}}"><td><code>{{strategy}}</code></td><td>{{version}}</td><td><button class="js" data-edit-rules="{{name}}">{{t.edit}}</button></td></tr>{{/ruleSets}}</table></div>{{/empty(ruleSets)}}</div>
        <form id="rules-form" autocomplete="off"><label>{{t.ruleName}} <input name="name" required pattern="[a-z0-9][a-z0-9\\-]{0,39}" maxlength="40" placeholder="dip"></label>
        <label class="wide">{{t.ruleSource}} <textarea name="source" rows="7" maxlength="4096" spellcheck="false" required placeholder="entry: rsi_14 < 30 and close > sma_200&#10;exit: rsi_14 > 70&#10;stop: 3%&#10;target: 6%&#10;size: 10% equity"></textarea></label>
        <p><button type="button" id="rules-check">{{t.check}}</button> <button type="submit" id="rules-save">{{t.saveVersion}}</button></p></form>
        <p id="rules-result" role="status"></p>{{/readOnly}}
        """,
        "notifications": """
        <h2>{{t.notifications}}</h2>{{^notifications}}<p class="tl">{{t.none}}</p>{{/notifications}}
        <ul id="notification-list">{{#notifications}}<li{{^read}} class="unread"{{/read}}><span class="tl">{{time}}</span> <strong>{{title}}</strong> {{message}}</li>{{/notifications}}</ul>
        """,
        "system": """
        {{#system}}<h2>{{t.system}} · {{t.operator}}</h2><div class="scroll"><table><tr><th>{{t.logHead}}</th><td>{{head}}</td></tr>
        {{#projections}}<tr><th>{{t.projection}} {{name}}</th><td>{{t.lag}} {{lag}} {{t.events}}</td></tr>{{/projections}}
        {{#queues}}<tr><th>{{t.queue}} {{name}}</th><td>wait {{wait}} · active {{active}} · delayed {{delayed}} · failed {{failed}}</td></tr>{{/queues}}
        {{^queues}}<tr><th>{{t.queue}}</th><td>{{t.queuesAway}}</td></tr>{{/queues}}</table></div>
        <p id="trading-state" class="{{#tradingHalt}}halted{{/tradingHalt}}">{{#tradingHalt}}{{t.tradingHalted}}: {{tradingHalt}} <button class="js" data-trading="resume">{{t.resumeAll}}</button>{{/tradingHalt}}{{^tradingHalt}}{{t.tradingOn}} <button class="js danger" data-trading="halt">{{t.haltAll}}</button>{{/tradingHalt}}</p>
        <h3>{{t.allAccounts}}</h3><div class="scroll"><table id="operator-accounts"><tr><th>{{t.account}}</th><th>{{t.owner}}</th><th>{{t.working}}</th><th>{{t.status}}</th><th></th></tr>
        {{#allAccounts}}<tr><td><a href="/operator/accounts/{{id}}">{{id}}</a> {{broker}}</td><td><code>{{user}}</code></td><td>{{working}}</td><td>{{#haltReason}}<span class="halted">{{t.halted}}: {{haltReason}}</span>{{/haltReason}}</td>
        <td>{{#haltReason}}<button class="js" data-operator-resume="{{id}}">{{t.resume}}</button>{{/haltReason}}{{^haltReason}}<button class="js danger" data-operator-halt="{{id}}">{{t.halt}}</button>{{/haltReason}}</td></tr>{{/allAccounts}}</table></div>{{/system}}
        """,
        "orderPage": """
        {{> head}}</head><body>{{> header}}<main class="narrow"><section id="lifecycle"><p><a href="/">{{t.back}}</a></p>
        <h1>{{t.lifecycle}} · {{order.id}}</h1><div class="scroll"><table class="facts">
        <tr><th>{{t.stock}}</th><td>{{order.stock}} {{order.stockName}}</td><th>{{t.side}}</th><td class="{{order.sideClass}}">{{order.side}}</td></tr>
        <tr><th>{{t.quantity}}</th><td>{{order.filled}}</td><th>{{t.price}}</th><td>{{order.price}}</td></tr>
        <tr><th>{{t.status}}</th><td id="order-status">{{order.status}}{{#order.failure}} ({{order.failure}}){{/order.failure}}</td><th>{{t.source}}</th><td>{{source}}</td></tr>
        <tr><th>{{t.fee}}</th><td>{{commission}}</td><th>{{t.tax}}</th><td>{{tax}}</td></tr>
        {{#brokerNumber}}<tr><th>{{t.brokerNumber}}</th><td colspan="3">{{brokerNumber}}</td></tr>{{/brokerNumber}}
        {{#order.clientOrderID}}<tr><th>{{t.clientOrderId}}</th><td colspan="3"><code>{{order.clientOrderID}}</code></td></tr>{{/order.clientOrderID}}</table></div>
        {{#verified}}<p id="verification" class="ok">✓ {{t.verified}} ({{framesChecked}} {{t.framesChecked}})</p>{{/verified}}
        {{^verified}}<div id="verification" class="error"><p>✗ {{t.notVerified}}</p><ul>{{#problems}}<li>{{.}}</li>{{/problems}}</ul></div>{{/verified}}
        <p class="tl">{{method}}</p>
        <ol id="events" class="events">{{#events}}<li data-offset="{{offset}}"><div><strong>{{label}}</strong> <code>{{type}}</code> <span class="tl">{{time}}</span></div>
        <div class="tl">{{t.offset}} {{offset}} · {{t.segment}} {{segment}} · {{t.frameHash}} <code title="{{frameHash}}">{{shortHash}}</code> · {{t.chained}} {{chained}}</div>
        <details><summary>{{t.payload}}</summary><pre>{{payload}}</pre></details></li>{{/events}}</ol></section></main></body></html>
        """,
        "board": """
        {{> head}}</head><body><header><a class="brand" href="/">StockBoom · {{t.board}}</a><nav><a href="?lang={{otherLanguage}}&queue={{queue}}&state={{state}}">{{t.otherLanguage}}</a> <span>{{email}}</span> <form class="inline" method="post" action="/logout"><input type="hidden" name="csrf" value="{{csrf}}"><button>{{t.signOut}}</button></form></nav></header>
        <main class="narrow">{{#redisError}}<p class="error" role="alert">Redis: {{redisError}}</p>{{/redisError}}
        <section id="queues"><h2>{{t.queues}}</h2><div class="scroll"><table><tr><th>{{t.queue}}</th>{{#first(queues)}}{{#states}}<th>{{state}}</th>{{/states}}{{/first(queues)}}<th></th></tr>
        {{#queues}}<tr id="queue-{{name}}"><td>{{name}}{{#paused}} <span class="halted" id="paused-{{name}}">{{t.paused}}</span>{{/paused}}</td>{{#states}}<td><a href="?queue={{queue}}&state={{state}}" class="{{#selected}}on{{/selected}}" data-count="{{state}}">{{count}}</a></td>{{/states}}
        <td><form class="inline" method="post" action="/queues/action"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="queue" value="{{name}}"><input type="hidden" name="state" value="{{state}}">{{#paused}}<button name="action" value="resume">{{t.resumeQueue}}</button>{{/paused}}{{^paused}}<button name="action" value="pause">{{t.pauseQueue}}</button>{{/paused}} <button name="action" value="retry-failed" id="retry-failed-{{name}}">{{t.retryFailed}}</button> <button name="action" value="clean-completed">{{t.cleanCompleted}}</button></form></td></tr>{{/queues}}</table></div></section>
        <section id="jobs"><h2>{{queue}} · {{state}} <span class="tl">{{range}}</span></h2>{{^jobs}}<p class="tl">{{t.none}}</p>{{/jobs}}
        {{^empty(jobs)}}<div class="scroll"><table id="job-list"><tr><th>id</th><th>{{t.attempts}}</th><th>{{t.added}}</th><th>{{t.processed}}</th><th>{{t.finishedAt}}</th><th>{{t.holder}}</th><th></th></tr>
        {{#jobs}}<tr id="job-{{id}}"><td><code>{{id}}</code></td><td>{{attempts}}</td><td>{{added}}</td><td>{{processed}}</td><td>{{finished}}{{#due}}{{t.due}} {{due}}{{/due}}</td><td>{{holder}}</td>
        <td><form class="inline" method="post" action="/jobs/action"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="queue" value="{{queue}}"><input type="hidden" name="state" value="{{state}}"><input type="hidden" name="id" value="{{id}}">{{#canRetry}}<button name="action" value="retry" class="retry">{{t.retry}}</button>{{/canRetry}}{{#canPromote}}<button name="action" value="promote" class="promote">{{t.promote}}</button>{{/canPromote}}{{#canRemove}} <button name="action" value="remove" class="danger remove">{{t.remove}}</button>{{/canRemove}}</form></td></tr>
        <tr class="tl"><td colspan="7">{{#error}}<div class="error job-error">{{error}}</div>{{/error}}<details><summary>data</summary><pre>{{data}}</pre></details></td></tr>{{/jobs}}</table></div>{{/empty(jobs)}}
        <p class="pager">{{#newer}}<a href="?queue={{queue}}&state={{state}}&offset={{newer}}">{{t.newer}}</a>{{/newer}} {{#older}}<a href="?queue={{queue}}&state={{state}}&offset={{older}}">{{t.older}}</a>{{/older}}</p></section>
        <section id="workers"><h2>{{t.workers}}</h2>{{^workers}}<p class="tl">{{t.none}}</p>{{/workers}}{{^empty(workers)}}<div class="scroll"><table><tr><th>{{t.worker}}</th><th>{{t.queue}}</th><th>{{t.startedAt}}</th><th>{{t.seenAt}}</th><th></th></tr>
        {{#workers}}<tr><td><code>{{worker}}</code></td><td>{{queue}}</td><td>{{started}}</td><td>{{seen}}</td><td class="{{#alive}}ok{{/alive}}{{^alive}}error{{/alive}}">{{#alive}}{{t.alive}}{{/alive}}{{^alive}}{{t.gone}}{{/alive}}</td></tr>{{/workers}}</table></div>{{/empty(workers)}}</section>
        </main></body></html>
        """,
        "docs": """
        {{> head}}<link rel="stylesheet" href="/assets/vendor/swagger-ui/swagger-ui.css"><script src="/assets/vendor/swagger-ui/swagger-ui-bundle.js" defer></script><script src="/assets/docs.js" defer></script></head>
        <body>{{> header}}<div id="swagger" data-missing="{{t.noChartLibrary}}"></div><noscript><p><a href="/openapi.json">/openapi.json</a></p></noscript></body></html>
        """,
    ]
}
