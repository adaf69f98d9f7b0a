// Posts the hosted card form (Authorize.Net Accept Hosted takes its page token by POST) once the page loads.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("hosted-form");
  if (form) { form.submit(); }
});
