// Small, optional enhancements; every page works without them.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  navigator.clipboard?.writeText(button.dataset.copy).then(() => {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1200);
  });
});

// Moments render in the viewer's zone from the next page on (apps/core/time_zone.py reads it).
(() => {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  // IANA names ("America/Argentina/Buenos_Aires") are valid cookie values as they are.
  if (!zone || !/^[A-Za-z0-9_+\/-]+$/.test(zone)) return;
  if (document.cookie.split("; ").includes(`resultdeck_tz=${zone}`)) return;
  document.cookie = `resultdeck_tz=${zone}; path=/; max-age=31536000; SameSite=Lax`;
})();
