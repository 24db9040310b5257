// Draws each plotly figure dpgdiff_lite.site staged as
// <div class="dpg-plotly"><script type="application/json">{"data": …, "layout": …}</script></div>
// with the one plotly.js of the site (_static/plotly.min.js), sized to the page's column.
document.addEventListener("DOMContentLoaded", () => {
  for (const div of document.querySelectorAll("div.dpg-plotly")) {
    const source = div.querySelector('script[type="application/json"]');
    const figure = JSON.parse(source.textContent);
    source.remove();
    const layout = Object.assign({}, figure.layout, {autosize: true});
    delete layout.width;
    Plotly.newPlot(div, figure.data, layout, {responsive: true, displaylogo: false});
  }
});
