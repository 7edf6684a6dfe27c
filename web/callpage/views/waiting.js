// The waiting-room screen ("The host will let you in"): shown after `joined` with state "waiting" or after `moved_to_waiting_room`, until `admitted`.

export class WaitingRoom {
  /** `ui`: `{ section, heading }`. */
  constructor({ ui, state }) {
    this.ui = ui;
    state.on('screen', (screen) => {
      const entering = screen === 'waiting' && ui.section.hidden;
      ui.section.hidden = screen !== 'waiting';
      // Keyboard and screen-reader users land on the heading that says what happens now.
      if (entering) {
        ui.heading.tabIndex = -1;
        ui.heading.focus();
      }
    });
  }
}
