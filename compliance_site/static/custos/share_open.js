// /shares/open#<token>: move the share link's token from the fragment (which no request carries)
// into the form's POST, take it off the address bar and the history, and open the recording.
(function () {
  "use strict";
  var form = document.getElementById("share-open");
  var token = window.location.hash.slice(1);
  if (!form || !token) {
    return;
  }
  window.history.replaceState(null, "", window.location.pathname);
  form.elements.token.value = decodeURIComponent(token);
  form.submit();
})();
