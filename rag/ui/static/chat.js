document.addEventListener("click", (event) => {
  const chip = event.target.closest && event.target.closest("a.cite");
  if (!chip) return;
  event.preventDefault();
  event.stopPropagation();
  const target = document.getElementById(chip.getAttribute("href").slice(1));
  if (!target) return;
  document.querySelectorAll(".source.active").forEach((el) => el.classList.remove("active"));
  target.classList.add("active");
  target.scrollIntoView({behavior: "smooth", block: "center"});
}, true);
