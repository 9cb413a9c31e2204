/* Nuvio staff dashboard: draws the charts from the figures the page embeds
 * (json_script "analytics-data"). Every chart also has a text alternative in
 * the page, so nothing is lost without JavaScript or without sight. */
(function () {
  "use strict";
  var source = document.getElementById("analytics-data");
  if (!source || typeof window.Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var Chart = window.Chart;

  // Colours with at least 3:1 contrast on white (WCAG non-text contrast).
  var PURPLE = "#3b2f8f";
  var TEAL = "#0b7285";
  var GREEN = "#146c43";
  var AMBER = "#b35c00";
  var RED = "#a4161a";
  var GREY = "#6c757d";

  var reduceMotion = window.matchMedia &&
    window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  Chart.defaults.animation = reduceMotion ? false : Chart.defaults.animation;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#212529";

  var money = new Intl.NumberFormat(undefined, {
    style: "currency", currency: data.currency || "INR", maximumFractionDigits: 2
  });

  function canvas(id) { return document.getElementById(id); }

  function horizontalHeight(count) {
    // Room for each bar, so long lists stay legible.
    return Math.max(160, 28 * count + 60);
  }

  var daily = canvas("chart-daily");
  if (daily && data.daily) {
    new Chart(daily, {
      data: {
        labels: data.daily.labels,
        datasets: [
          {
            type: "bar", label: "Bookings", data: data.daily.bookings,
            backgroundColor: PURPLE, yAxisID: "bookings", order: 2
          },
          {
            type: "line", label: "Revenue (" + data.currency + ")", data: data.daily.revenue,
            borderColor: TEAL, backgroundColor: TEAL, pointRadius: 2, tension: 0.2,
            yAxisID: "revenue", order: 1
          }
        ]
      },
      options: {
        aspectRatio: 2.5,
        interaction: { mode: "index", intersect: false },
        scales: {
          bookings: {
            type: "linear", position: "left", beginAtZero: true,
            title: { display: true, text: "Bookings" }, ticks: { precision: 0 }
          },
          revenue: {
            type: "linear", position: "right", beginAtZero: true,
            title: { display: true, text: "Revenue" }, grid: { drawOnChartArea: false },
            ticks: { callback: function (value) { return money.format(value); } }
          }
        },
        plugins: {
          tooltip: {
            callbacks: {
              label: function (item) {
                if (item.dataset.yAxisID === "revenue") {
                  return "Revenue: " + money.format(item.parsed.y);
                }
                return "Bookings: " + item.parsed.y;
              }
            }
          }
        }
      }
    });
  }

  var top = canvas("chart-top-events");
  if (top && data.top_events && data.top_events.labels.length) {
    top.parentNode.style.height = horizontalHeight(data.top_events.labels.length) + "px";
    new Chart(top, {
      type: "bar",
      data: {
        labels: data.top_events.labels,
        datasets: [{ label: "Tickets sold", data: data.top_events.tickets, backgroundColor: PURPLE }]
      },
      options: {
        indexAxis: "y", maintainAspectRatio: false,
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { display: false } }
      }
    });
  }

  var status = canvas("chart-status");
  if (status && data.status) {
    new Chart(status, {
      type: "doughnut",
      data: {
        labels: data.status.labels,
        datasets: [{
          data: data.status.values,
          backgroundColor: [AMBER, GREEN, RED, GREY],
          borderColor: "#fff"
        }]
      },
      options: { aspectRatio: 2, plugins: { legend: { position: "right" } } }
    });
  }

  var utilization = canvas("chart-utilization");
  if (utilization && data.utilization && data.utilization.labels.length) {
    utilization.parentNode.style.height = horizontalHeight(data.utilization.labels.length) + "px";
    new Chart(utilization, {
      type: "bar",
      data: {
        labels: data.utilization.labels,
        datasets: [{
          label: "Utilization (%)", data: data.utilization.percent, backgroundColor: TEAL
        }]
      },
      options: {
        indexAxis: "y", maintainAspectRatio: false,
        scales: {
          x: {
            beginAtZero: true, max: 100,
            ticks: { callback: function (value) { return value + " %"; } }
          }
        },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: { label: function (item) { return item.parsed.x + " % of capacity"; } }
          }
        }
      }
    });
  }
})();
