/**
 * The notes pad: the text area shows the Y.Text "notes" of the document named after the room. A local edit
 * becomes the smallest delete and insert that turn the old text into the new one; a remote change moves the
 * caret as the delta says, so typing on two pages at once keeps both carets where their owners put them.
 */
export const NOTES_SCRIPT = `
if (config.docsPath) {
  const notes = createDocumentProvider({
    url: (location.protocol === "https:" ? "wss://" : "ws://") + location.host + config.docsPath,
    name: room,
    reconnectIntervalMs: 500,
    maxReconnectIntervalMs: 5000,
  });
  window.notes = notes;
  const text = notes.doc.getText("notes");
  const pad = $("notes");
  $("notes-panel").hidden = false;
  let shown = "";
  pad.addEventListener("input", () => {
    const next = pad.value;
    let start = 0;
    while (start < shown.length && start < next.length && shown[start] === next[start]) start++;
    let end = 0;
    while (end < shown.length - start && end < next.length - start && shown[shown.length - 1 - end] === next[next.length - 1 - end]) end++;
    notes.doc.transact(() => {
      if (shown.length - start - end > 0) text.delete(start, shown.length - start - end);
      if (next.length - start - end > 0) text.insert(start, next.slice(start, next.length - end));
    }, "pad");
    shown = next;
  });
  text.observe((event) => {
    if (event.transaction.origin === "pad") return;
    let from = pad.selectionStart;
    let to = pad.selectionEnd;
    let index = 0;
    for (const op of event.delta) {
      if (op.retain) index += op.retain;
      else if (op.insert) {
        const n = op.insert.length;
        if (index < from) from += n;
        if (index < to) to += n;
        index += n;
      } else if (op.delete) {
        from -= Math.max(0, Math.min(op.delete, from - index));
        to -= Math.max(0, Math.min(op.delete, to - index));
      }
    }
    shown = text.toString();
    pad.value = shown;
    if (document.activeElement === pad) pad.setSelectionRange(from, to);
  });
  const label = { connecting: "connecting", synced: "live", offline: "offline, edits kept", stopped: "stopped" };
  const showStatus = (state) => {
    $("notes-status").dataset.status = state.status;
    $("notes-status").textContent = label[state.status] + (state.readOnly ? " (read-only)" : "");
  };
  notes.subscribe(showStatus);
  showStatus(notes.getState());
}
`;
