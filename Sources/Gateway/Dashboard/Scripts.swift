/// The pages' own script and style (ours, served from `/assets/`; the third-party chart and Swagger UI come from
/// `/assets/vendor/`). The script only calls the JSON API with the session cookie and the CSRF token from the
/// page's `<meta name="csrf-token">`; what it shows of the server's answers goes in through `textContent`, and
/// the live refresh swaps in sections the server rendered (and escaped) for this very page.
enum Scripts {
    static let dashboard = #"""
        (() => {
          "use strict";
          const body = document.body;
          const csrf = document.querySelector('meta[name="csrf-token"]').content;
          const lang = body.dataset.lang || "ko";
          const number = new Intl.NumberFormat("ko-KR");
          const won = (value) => number.format(value) + (lang === "ko" ? "원" : " KRW");
          const words = (ko, en) => (lang === "ko" ? ko : en);

          async function api(method, path, payload, headers = {}) {
            const options = { method, credentials: "same-origin", headers: { Accept: "application/json", "X-CSRF-Token": csrf, ...headers } };
            if (payload !== undefined) {
              options.headers["Content-Type"] = "application/json";
              options.body = JSON.stringify(payload);
            }
            const response = await fetch(path, options);
            const text = await response.text();
            let data = null;
            try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
            if (!response.ok) {
              const error = new Error((data && (data.detail || data.title)) || `${response.status} ${text.slice(0, 200)}`);
              error.status = response.status;
              throw error;
            }
            return data;
          }

          function say(element, text, ok) {
            if (!element) return;
            element.textContent = text;
            element.className = ok ? "ok" : "error";
          }

          // Live sections: on each of the user's events (debounced), the page is fetched again and its
          // data-live sections swapped in; the order form and the chart keep their state.
          let timer = null, busy = false, again = false;
          async function refresh() {
            if (busy) { again = true; return; }
            busy = true;
            try {
              const response = await fetch(location.pathname + location.search, { credentials: "same-origin", headers: { Accept: "text/html" } });
              if (response.ok) {
                const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
                for (const section of document.querySelectorAll("[data-live]")) {
                  const replacement = fresh.getElementById(section.id);
                  if (replacement) section.innerHTML = replacement.innerHTML;
                }
                body.dataset.refreshes = String(Number(body.dataset.refreshes || 0) + 1);
              }
            } catch (_) {
              // The next event retries.
            } finally {
              busy = false;
              if (again) { again = false; schedule(); }
            }
          }
          function schedule() { clearTimeout(timer); timer = setTimeout(refresh, 200); }

          // The stream: EventSource resumes with Last-Event-ID by itself; if the server closes it for good
          // (a restart answering 503), a new one continues from the last offset seen (?from=).
          const live = document.getElementById("live");
          let lastEventId = null;
          function connect() {
            const source = new EventSource("/api/stream" + (lastEventId ? `?from=${encodeURIComponent(lastEventId)}` : ""));
            source.onopen = () => { if (live) { live.classList.add("on"); live.title = words("실시간", "live"); } body.dataset.stream = "open"; };
            source.onerror = () => {
              if (live) { live.classList.remove("on"); live.title = live.dataset.offline || ""; }
              body.dataset.stream = "error";
              if (source.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
            };
            for (const type of (body.dataset.eventTypes || "").split(" ").filter(Boolean)) {
              source.addEventListener(type, (event) => {
                lastEventId = event.lastEventId || lastEventId;
                body.dataset.lastEvent = `${type} ${event.lastEventId}`;
                schedule();
                if (type === "OrderFilled" || type === "OrderPartiallyFilled") chart.fills();
              });
            }
          }

          // The chart: candles, volume, the engine's indicators and the account's fills (TradingView's
          // Lightweight Charts; zoom and pan with the wheel and a drag). Times are drawn in KST.
          const chart = (() => {
            const box = document.getElementById("chart-box");
            const status = document.getElementById("chart-status");
            const none = { load() {}, fills() {} };
            if (!box) return none;
            if (!window.LightweightCharts) { box.textContent = box.dataset.missing; return none; }
            const KST = 9 * 3600;
            const seconds = { "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400 };
            const at = (iso) => Math.floor(Date.parse(iso) / 1000) + KST;
            const view = LightweightCharts.createChart(box, {
              autoSize: true,
              layout: { background: { color: "#ffffff" }, textColor: "#333" },
              grid: { vertLines: { color: "#f0f0f0" }, horzLines: { color: "#f0f0f0" } },
              timeScale: { timeVisible: true, secondsVisible: false },
              rightPriceScale: { scaleMargins: { top: 0.05, bottom: 0.28 } },
              localization: { locale: "ko-KR", priceFormatter: (price) => number.format(Math.round(price)) },
            });
            // Korean convention: rising red, falling blue.
            const candles = view.addCandlestickSeries({ upColor: "#d32f2f", downColor: "#1565c0", borderVisible: false, wickUpColor: "#d32f2f", wickDownColor: "#1565c0" });
            const volume = view.addHistogramSeries({ priceFormat: { type: "volume" }, priceScaleId: "volume", lastValueVisible: false, priceLineVisible: false });
            view.priceScale("volume").applyOptions({ scaleMargins: { top: 0.78, bottom: 0 } });
            const colors = ["#f9a825", "#6a1b9a", "#2e7d32", "#ef6c00", "#00838f", "#5d4037", "#9e9d24"];
            const lines = new Map();
            let stock = body.dataset.stock;
            let timeframe = "1m";
            let bars = new Set();

            function columns() {
              return [...document.querySelectorAll(".indicator:checked")].flatMap((box) =>
                box.value === "bb_20_2" ? ["bb_upper_20_2", "bb_middle_20_2", "bb_lower_20_2"] : [box.value]);
            }

            async function indicators() {
              const wanted = columns();
              for (const [name, series] of lines) if (!wanted.includes(name)) { view.removeSeries(series); lines.delete(name); }
              if (!wanted.length || !stock) return;
              const data = await api("GET", `/api/market-data/stocks/${stock}/indicators?timeframe=${timeframe}&names=${wanted.join(",")}&limit=2000`);
              wanted.forEach((name, index) => {
                if (!lines.has(name)) {
                  lines.set(name, view.addLineSeries({ color: colors[index % colors.length], lineWidth: 1, priceLineVisible: false, lastValueVisible: false, title: name }));
                }
                lines.get(name).setData(data.rows.filter((row) => name in row.values).map((row) => ({ time: at(row.timestamp), value: row.values[name] })));
              });
            }

            async function fills() {
              if (!stock) return;
              const orders = await api("GET", `/api/orders?stockId=${stock}&limit=1000`);
              const step = seconds[timeframe];
              const markers = orders.items.filter((order) => order.filledQuantity > 0).map((order) => {
                const buy = order.side === "BUY";
                const time = Math.floor(at(order.updatedAt) / step) * step;
                return {
                  time: bars.has(time) ? time : [...bars].filter((bar) => bar <= time).pop() ?? time,
                  position: buy ? "belowBar" : "aboveBar",
                  color: buy ? "#d32f2f" : "#1565c0",
                  shape: buy ? "arrowUp" : "arrowDown",
                  text: `${buy ? box.dataset.buy : box.dataset.sell} ${number.format(order.filledQuantity)}@${number.format(order.averageFillPrice)}`,
                };
              }).sort((a, b) => a.time - b.time);
              candles.setMarkers(markers);
              body.dataset.markers = String(markers.length);
            }

            async function load() {
              if (!stock) return;
              try {
                const data = await api("GET", `/api/market-data/stocks/${stock}/candles?timeframe=${timeframe}&limit=2000`);
                const rows = data.candles.map((candle) => ({ ...candle, time: at(candle.timestamp) }));
                bars = new Set(rows.map((row) => row.time));
                candles.setData(rows.map(({ time, open, high, low, close }) => ({ time, open, high, low, close })));
                volume.setData(rows.map((row) => ({ time: row.time, value: row.volume, color: row.close >= row.open ? "#ef9a9a" : "#90caf9" })));
                await indicators();
                await fills();
                view.timeScale().fitContent();
                for (const button of document.querySelectorAll("button.tf")) button.classList.toggle("on", button.dataset.timeframe === timeframe);
                body.dataset.candles = String(rows.length);
                status.textContent = `${stock} · ${timeframe} · ${number.format(rows.length)} ${words("봉", "bars")}`;
              } catch (error) {
                status.textContent = error.message;
              }
            }
            document.addEventListener("click", (event) => {
              const button = event.target.closest("button.tf");
              if (button) { timeframe = button.dataset.timeframe; load(); }
            });
            document.addEventListener("change", (event) => { if (event.target.classList.contains("indicator")) indicators().catch((error) => { status.textContent = error.message; }); });
            return { load, fills, show(code) { stock = code; body.dataset.stock = code; load(); } };
          })();

          // The order form: KRX's tick and price band shown before sending; the engine's refusal in words.
          const form = document.getElementById("order-form");
          if (form) {
            const rules = document.getElementById("order-rules");
            const result = document.getElementById("order-result");
            let quote = null;
            const tickAt = (price) => {
              for (const band of quote.ticks) if (band.below === undefined || band.below === null || price < band.below) return band.tick;
              return quote.ticks[quote.ticks.length - 1].tick;
            };
            function showRules() {
              if (!quote) { rules.textContent = ""; return; }
              const limit = form.type.value === "LIMIT";
              form.price.disabled = !limit;
              const price = Number(form.price.value) || quote.price;
              const tick = price > 0 ? tickAt(price) : 1;
              let text = `${rules.dataset.tick} ${won(tick)} · ${rules.dataset.band} ${won(quote.lowerLimit)} – ${won(quote.upperLimit)} · ${words("현재가", "last")} ${won(quote.price)}`;
              let ok = true;
              if (limit && form.price.value) {
                if (price % tick !== 0) { ok = false; text += ` · ✗ ${words(`${won(tick)} 단위가 아닙니다`, `not on the ${won(tick)} tick`)} (${won(price - (price % tick))} / ${won(price - (price % tick) + tick)})`; }
                if (price < quote.lowerLimit || price > quote.upperLimit) { ok = false; text += ` · ✗ ${words("가격제한 밖", "outside the band")}`; }
              }
              rules.textContent = text;
              rules.className = ok ? "tl" : "tl warn";
            }
            async function loadQuote() {
              delete rules.dataset.stock;
              if (!/^[0-9]{6}$/.test(form.stockId.value)) { showRules(); return; }
              try {
                quote = await api("GET", `/api/market-data/stocks/${form.stockId.value}/quote`);
                rules.dataset.stock = quote.stockId;
                if (!form.price.value) form.price.value = String(quote.price);
              } catch (error) { rules.textContent = error.message; return; }
              showRules();
              chart.show(form.stockId.value);
            }
            form.stockId.addEventListener("change", loadQuote);
            form.price.addEventListener("input", showRules);
            form.type.addEventListener("change", showRules);
            form.addEventListener("submit", async (event) => {
              event.preventDefault();
              const payload = {
                brokerAccountId: form.brokerAccountId.value,
                stockId: form.stockId.value,
                side: form.side.value,
                type: form.type.value,
                quantity: Number(form.quantity.value),
              };
              if (payload.type === "LIMIT") payload.price = Number(form.price.value);
              const key = `web-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
              try {
                const order = await api("POST", "/api/orders", payload, { "Idempotency-Key": key });
                // The engine records a refused order too (REJECTED, with its reason): shown as the refusal it is.
                if (order.status === "REJECTED") {
                  say(result, `${words("주문 거부", "Refused")}: ${order.failureMessage || order.failureReason || order.status}`, false);
                } else {
                  say(result, `${words("주문 접수", "Order placed")}: ${order.id} (${order.status})`, true);
                }
                result.dataset.order = order.id;
                schedule();
              } catch (error) {
                say(result, `${words("주문 거부", "Refused")}: ${error.message}`, false);
              }
            });
            if (form.stockId.value) loadQuote();
          }

          // Strategies: enable with parameters, disable from the list.
          // Protective orders: armed from their form; numbers left empty are not sent.
          document.addEventListener("submit", async (event) => {
            const triggerForm = event.target;
            if (triggerForm.id !== "trigger-form") return;
            event.preventDefault();
            const result = document.getElementById("trigger-result");
            const payload = {
              brokerAccountId: triggerForm.brokerAccountId.value,
              stockId: triggerForm.stockId.value,
              kind: triggerForm.kind.value,
              quantity: Number(triggerForm.quantity.value),
            };
            for (const name of ["triggerPrice", "trailPercent", "limitPrice"]) {
              if (triggerForm[name].value !== "") payload[name] = Number(triggerForm[name].value);
            }
            try {
              const trigger = await api("POST", "/api/triggers", payload);
              say(result, `${trigger.id} · ${won(trigger.level)}`, true);
              result.dataset.trigger = trigger.id;
              schedule();
            } catch (error) { say(result, error.message, false); }
          });

          // (Delegated: the form is in a live section, replaced on refresh.)
          document.addEventListener("submit", async (event) => {
            const strategyForm = event.target;
            if (strategyForm.id !== "strategy-form") return;
            event.preventDefault();
            const result = document.getElementById("strategy-result");
            try {
              await api("POST", "/api/strategies", {
                brokerAccountId: strategyForm.brokerAccountId.value,
                stockId: strategyForm.stockId.value,
                strategy: strategyForm.strategy.value,
                parameters: strategyForm.parameters.value,
              });
              say(result, words("전략을 켰습니다", "Strategy enabled"), true);
              schedule();
            } catch (error) { say(result, error.message, false); }
          });

          // Rule sets: checked (nothing stored) or saved as the next version; a mistake's line and column select
          // the place in the editor. Editing loads a rule set's newest source from the API.
          const rulesForm = document.getElementById("rules-form");
          if (rulesForm) {
            const rulesResult = document.getElementById("rules-result");
            const showMistake = (error) => {
              say(rulesResult, error.message, false);
              const place = /line (\d+), column (\d+)/.exec(error.message);
              if (!place) return;
              const lines = rulesForm.source.value.split("\n");
              const line = Math.min(Number(place[1]), lines.length) - 1;
              let at = lines.slice(0, line).reduce((sum, text) => sum + text.length + 1, 0) + Number(place[2]) - 1;
              at = Math.max(0, Math.min(at, rulesForm.source.value.length));
              rulesForm.source.focus();
              rulesForm.source.setSelectionRange(at, Math.min(at + 1, rulesForm.source.value.length));
            };
            const summary = (checked) => [
              checked.strategy ? `${checked.strategy} v${checked.version}` : words("문제 없음", "No mistake"),
              `${words("지표", "indicators")}: ${checked.indicators.join(", ") || "-"}`,
              `${words("크기", "size")}: ${checked.size}`,
              ...[["stopLossPercent", words("손절", "stop")], ["takeProfitPercent", words("익절", "target")], ["trailPercent", words("추적", "trail")]]
                .filter(([key]) => checked[key] != null).map(([key, label]) => `${label} ${checked[key]}%`),
            ].join(" · ");
            document.getElementById("rules-check").addEventListener("click", async () => {
              try {
                say(rulesResult, summary(await api("POST", "/api/strategies/rules/check", { source: rulesForm.source.value })), true);
              } catch (error) { showMistake(error); }
            });
            rulesForm.addEventListener("submit", async (event) => {
              event.preventDefault();
              try {
                const saved = await api("POST", "/api/strategies/rules", { name: rulesForm.name.value, source: rulesForm.source.value });
                say(rulesResult, summary(saved), true);
                const choices = document.querySelector('#strategy-form select[name="strategy"]');
                if (choices && ![...choices.options].some((option) => option.value === saved.strategy)) {
                  choices.add(new Option(saved.strategy, saved.strategy));
                }
                schedule();
              } catch (error) { showMistake(error); }
            });
            document.addEventListener("click", async (event) => {
              const button = event.target.closest("button[data-edit-rules]");
              if (!button) return;
              try {
                const list = await api("GET", "/api/strategies/rules");
                const found = (list.items || []).find((item) => item.name === button.dataset.editRules);
                if (!found) return;
                rulesForm.name.value = found.name;
                rulesForm.source.value = found.versions[found.versions.length - 1].source;
                say(rulesResult, `${found.strategy} v${found.version}`, true);
                rulesForm.source.focus();
              } catch (error) { say(rulesResult, error.message, false); }
            });
          }

          // Buttons in the live sections (delegated: the sections are replaced on refresh).
          document.addEventListener("click", async (event) => {
            const button = event.target.closest("button[data-cancel], button[data-resume], button[data-disable-strategy], button[data-operator-halt], button[data-operator-resume], button[data-trading], button[data-resubmit], button[data-cancel-trigger]");
            if (!button) return;
            const result = document.getElementById("order-result");
            const data = button.dataset;
            try {
              if (data.cancel) {
                await api("POST", `/api/orders/${encodeURIComponent(data.cancel)}/cancel`);
                say(result, `${words("취소 요청", "Cancel requested")}: ${data.cancel}`, true);
              } else if (data.resume) {
                if (!confirm(words("잔고를 대사하고 거래를 재개할까요?", "Reconcile and resume trading?"))) return;
                await api("POST", `/api/broker-accounts/${encodeURIComponent(data.resume)}/resume`, { confirm: true });
              } else if (data.disableStrategy) {
                await api("POST", "/api/strategies/disable", { brokerAccountId: data.disableAccount, stockId: data.disableStock, strategy: data.disableStrategy });
              } else if (data.operatorHalt) {
                const reason = prompt(words("중지 사유 (계좌 소유자에게 보입니다)", "Reason (the owner sees it)"));
                if (!reason) return;
                await api("POST", `/api/operator/accounts/${encodeURIComponent(data.operatorHalt)}/halt`, { reason });
              } else if (data.operatorResume) {
                if (!confirm(words("이 계좌의 거래를 재개할까요?", "Resume this account?"))) return;
                await api("POST", `/api/operator/accounts/${encodeURIComponent(data.operatorResume)}/resume`, { confirm: true });
              } else if (data.cancelTrigger) {
                await api("POST", `/api/triggers/${encodeURIComponent(data.cancelTrigger)}/cancel`);
              } else if (data.resubmit) {
                if (!confirm(words("이 주문을 소유자 대신 다시 낼까요?", "Place this order again for its owner?"))) return;
                const order = await api("POST", `/api/operator/orders/${encodeURIComponent(data.resubmit)}/resubmit`);
                say(result, `${words("재주문", "Placed again")}: ${order.id} (${order.status})`, order.status !== "REJECTED");
                if (result) result.dataset.order = order.id;
              } else if (data.trading === "halt") {
                const reason = prompt(words("전체 거래 중지 사유", "Why halt all trading?"));
                if (!reason) return;
                await api("POST", "/api/operator/trading/halt", { reason });
              } else if (data.trading === "resume") {
                const reason = prompt(words("전체 거래 재개 사유", "Why resume all trading?"));
                if (!reason) return;
                await api("POST", "/api/operator/trading/resume", { reason });
              }
              schedule();
            } catch (error) {
              say(result, error.message, false);
              alert(error.message);
            }
          });

          chart.load();
          setInterval(() => chart.load(), 60000);
          connect();
          body.dataset.ready = "1";
        })();
        """#

    /// A backtest report's charts (`BacktestReportPage`): its data from the page's `#report-data` attribute.
    static let report = #"""
        "use strict";
        (function () {
          const holder = document.getElementById("report-data");
          if (!holder) return;
          const data = JSON.parse(holder.dataset.json);
          const charts = window.LightweightCharts;
          if (!charts) { document.getElementById("charts-missing").hidden = false; return; }
          function chart(id, height) {
            const element = document.getElementById(id);
            return charts.createChart(element, { height: height, layout: { fontFamily: "system-ui, sans-serif" },
              timeScale: { timeVisible: true }, rightPriceScale: { borderVisible: false } });
          }
          const equity = chart("equity-chart", 300);
          equity.addLineSeries({ color: "#1565c0", lineWidth: 2, title: "strategy" }).setData(data.equity);
          equity.addLineSeries({ color: "#9e9e9e", lineWidth: 1, title: "buy & hold" }).setData(data.buyAndHold);
          equity.timeScale().fitContent();
          const drawdown = chart("drawdown-chart", 160);
          drawdown.addAreaSeries({ lineColor: "#c62828", topColor: "rgba(198,40,40,0.05)",
            bottomColor: "rgba(198,40,40,0.4)" }).setData(data.drawdown);
          drawdown.timeScale().fitContent();
          const bars = data.chart.bars;
          if (bars.length) {
            const price = chart("price-chart", 360);
            const candles = price.addCandlestickSeries({ upColor: "#d32f2f", downColor: "#1565c0", borderVisible: false,
              wickUpColor: "#d32f2f", wickDownColor: "#1565c0" });
            candles.setData(bars);
            // Each trade on the bar it happened in (the newest bar at or before it).
            const times = bars.map(b => b.time);
            function barAt(t) {
              let lo = 0, hi = times.length - 1;
              if (t < times[0]) return null;
              while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (times[mid] <= t) lo = mid; else hi = mid - 1; }
              return times[lo];
            }
            const markers = [];
            for (const trade of data.trades) {
              if (trade.stock !== data.chart.stock) continue;
              const time = barAt(trade.chartTime);
              if (time === null) continue;
              const buy = trade.side === "BUY";
              markers.push({ time: time, position: buy ? "belowBar" : "aboveBar", color: buy ? "#d32f2f" : "#1565c0",
                shape: buy ? "arrowUp" : "arrowDown", text: (buy ? "B " : "S ") + trade.quantity });
            }
            markers.sort((a, b) => a.time - b.time);
            candles.setMarkers(markers);
            price.timeScale().fitContent();
          }
        })();
        """#

    static let docs = #"""
        (() => {
          "use strict";
          const target = document.getElementById("swagger");
          if (!window.SwaggerUIBundle) { target.textContent = target.dataset.missing; return; }
          window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger", deepLinking: true, tryItOutEnabled: false });
        })();
        """#

    static let style = #"""
        *{box-sizing:border-box}body{font-family:"Noto Sans CJK KR","Noto Sans KR",system-ui,sans-serif;margin:0;background:#f4f6f9;color:#1d2330;font-size:14px}
        header{background:#14213d;color:#fff;padding:10px 20px;display:flex;justify-content:space-between;align-items:center;gap:12px;flex-wrap:wrap}
        header a{color:#fff}header nav{display:flex;gap:12px;align-items:center;flex-wrap:wrap}.brand{font-weight:700;font-size:18px;text-decoration:none}
        main{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,460px),1fr));gap:14px;padding:14px}main.narrow{max-width:1000px;margin:0 auto;display:block}
        section{background:#fff;border-radius:8px;padding:10px 14px;box-shadow:0 1px 3px #0002;min-width:0}section.wide{grid-column:1/-1}
        h2{font-size:17px;margin:4px 0 8px}h3{font-size:14px;margin:10px 0 4px}.scroll{overflow-x:auto;max-width:100%}
        table{border-collapse:collapse;width:100%}td,th{padding:4px 6px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}td:first-child,th:first-child{text-align:left}
        th{font-weight:600;color:#555}.up{color:#d32f2f}.down{color:#1565c0}.tl{font-size:12px;color:#666}tr.tl td{text-align:left;white-space:normal}
        .halted{color:#b71c1c;font-weight:600}.ok{color:#1b5e20}.error{color:#b71c1c}.warn{color:#b71c1c}form.inline{display:inline}
        button{cursor:pointer;border:1px solid #c5cad3;background:#fff;border-radius:4px;padding:3px 8px}button.danger{border-color:#c62828;color:#c62828}button.on{background:#14213d;color:#fff}
        .grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:8px;align-items:end}.grid label{display:flex;flex-direction:column;gap:2px;font-size:12px;color:#555}
        input,select{padding:4px;border:1px solid #c5cad3;border-radius:4px;font:inherit}.controls{display:flex;flex-wrap:wrap;gap:6px;align-items:center;margin-bottom:6px}
        #rules-form label{display:flex;flex-direction:column;gap:2px;font-size:12px;color:#555;margin:4px 0}#rules-form input{max-width:260px}
        textarea{width:100%;padding:6px;border:1px solid #c5cad3;border-radius:4px;font:13px/1.5 ui-monospace,"Noto Sans Mono CJK KR",monospace;resize:vertical}
        #chart-box{height:400px;width:100%}.live{color:#999}.live.on{color:#4caf50}li.unread{font-weight:600}.pager{display:flex;gap:12px}
        .events{list-style:none;padding:0}.events li{border-left:3px solid #14213d;padding:4px 10px;margin:6px 0}pre{white-space:pre-wrap;word-break:break-all;background:#f6f8fa;padding:6px}
        .facts th{text-align:left}#verification.ok{background:#e8f5e9;padding:6px 10px;border-radius:4px}
        """#
}
