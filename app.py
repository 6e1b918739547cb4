"""kflayers explorer: home page (placeholder until the app issue lands)."""

import streamlit as st

st.title("kflayers explorer")
st.write("The layer pages are coming; see the README.")
