/* The request page's line about its job on a worker (dsr.jobs): while the job is queued or
   running, ask the request's job endpoint every two seconds and show its state; when it is done
   or has failed, reload the page, whose status, outcome, letters and packages have changed.
   A static file, because the content security policy allows no inline script. */
(function () {
    "use strict";
    var ACTIVE = ["queued", "running"];
    var INTERVAL_MS = 2000;

    function watch(element) {
        var url = element.getAttribute("data-job-url");
        var state = element.getAttribute("data-job-state");
        if (!url || ACTIVE.indexOf(state) === -1) {
            return;
        }
        function poll() {
            fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
                .then(function (response) {
                    if (!response.ok) {
                        throw new Error("job state: HTTP " + response.status);
                    }
                    return response.json();
                })
                .then(function (job) {
                    element.textContent = job.text;
                    element.setAttribute("data-job-state", job.state);
                    element.className = "dsr-job dsr-job-" + job.state;
                    if (ACTIVE.indexOf(job.state) === -1) {
                        window.location.reload();
                    } else {
                        window.setTimeout(poll, INTERVAL_MS);
                    }
                })
                .catch(function () {
                    // A network blip or a restart: try again later, slower.
                    window.setTimeout(poll, INTERVAL_MS * 5);
                });
        }
        window.setTimeout(poll, INTERVAL_MS);
    }

    function start() {
        var elements = document.querySelectorAll(".dsr-job[data-job-url]");
        for (var i = 0; i < elements.length; i++) {
            watch(elements[i]);
        }
    }

    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", start);
    } else {
        start();
    }
})();
